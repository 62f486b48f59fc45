/// A worker introduces itself to a router: sent on start, and again whenever the router
/// answers ``ControlMessage/unknownWorker`` (after a router restart).
public struct WorkerRegistration: Codable, Sendable, Equatable {
    public var workerID: WorkerID
    /// Base URL of the worker's HTTP server (`/v1/loras`, `/health`, `/metrics`).
    public var httpURL: String
    /// ZeroMQ endpoint where the worker takes inference requests, once it serves them.
    public var servingEndpoint: String?
    public var model: ModelCard
    public var adapters: [AdapterSummary]
    public var metrics: LoadMetrics
    /// Seconds between heartbeats; the router allows a few missed ones before it gives up.
    public var heartbeatInterval: Double

    public init(
        workerID: WorkerID, httpURL: String, servingEndpoint: String?, model: ModelCard,
        adapters: [AdapterSummary], metrics: LoadMetrics, heartbeatInterval: Double
    ) {
        self.workerID = workerID
        self.httpURL = httpURL
        self.servingEndpoint = servingEndpoint
        self.model = model
        self.adapters = adapters
        self.metrics = metrics
        self.heartbeatInterval = heartbeatInterval
    }
}

/// The router's answer to a registration.
public struct RegistrationAck: Codable, Sendable, Equatable {
    public var workerID: WorkerID
    public var routerID: String
    /// Port of the router's KV-event socket; the worker connects its publisher to it on the
    /// same host it reached the router on.
    public var eventsPort: Int

    public init(workerID: WorkerID, routerID: String, eventsPort: Int) {
        self.workerID = workerID
        self.routerID = routerID
        self.eventsPort = eventsPort
    }
}

/// Sent every `heartbeatInterval` seconds. It carries the full adapter list so that a lost
/// adapter event heals within one interval.
public struct WorkerHeartbeat: Codable, Sendable, Equatable {
    public var workerID: WorkerID
    public var sequence: UInt64
    public var metrics: LoadMetrics
    public var adapters: [AdapterSummary]

    public init(workerID: WorkerID, sequence: UInt64, metrics: LoadMetrics, adapters: [AdapterSummary]) {
        self.workerID = workerID
        self.sequence = sequence
        self.metrics = metrics
        self.adapters = adapters
    }
}

/// An adapter was loaded on, or unloaded from, a worker; sent at once to every router, which
/// answers ``AdapterEventAck`` once its view holds the change.
public struct AdapterEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case loaded, unloaded }
    public var workerID: WorkerID
    public var kind: Kind
    public var adapter: AdapterSummary
    /// Grows with each event of this worker process; nil from workers that want no answer.
    public var sequence: UInt64?

    public init(workerID: WorkerID, kind: Kind, adapter: AdapterSummary, sequence: UInt64? = nil) {
        self.workerID = workerID
        self.kind = kind
        self.adapter = adapter
        self.sequence = sequence
    }
}

/// A router applied a worker's adapter events up to `sequence`. The worker answers `POST` and
/// `DELETE /v1/loras` only after its routers did, so a client that calls the frontend next
/// meets a router that already knows.
public struct AdapterEventAck: Codable, Sendable, Equatable {
    public var workerID: WorkerID
    public var sequence: UInt64

    public init(workerID: WorkerID, sequence: UInt64) {
        self.workerID = workerID
        self.sequence = sequence
    }
}
