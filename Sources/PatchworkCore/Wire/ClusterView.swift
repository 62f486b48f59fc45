/// The router's picture of the live cluster, pushed to every frontend when it changes and in
/// answer to each frontend's ping. `version` grows with every change.
public struct ClusterView: Codable, Sendable, Equatable {
    public var routerID: String
    public var version: UInt64
    public var workers: [WorkerView]
    /// Adapters no live worker holds now whose source the router knows (their workers died):
    /// a request for one is routed to a worker that loads it first.
    public var loadable: [LoadableAdapter]

    public init(routerID: String, version: UInt64, workers: [WorkerView], loadable: [LoadableAdapter] = []) {
        self.routerID = routerID
        self.version = version
        self.workers = workers
        self.loadable = loadable
    }

    private enum CodingKeys: String, CodingKey { case routerID, version, workers, loadable }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        routerID = try container.decode(String.self, forKey: .routerID)
        version = try container.decode(UInt64.self, forKey: .version)
        workers = try container.decode([WorkerView].self, forKey: .workers)
        // Absent in views from routers that predate it.
        loadable = try container.decodeIfPresent([LoadableAdapter].self, forKey: .loadable) ?? []
    }
}

/// An adapter the cluster can load on demand: its name, base model and source URI.
public struct LoadableAdapter: Codable, Sendable, Equatable {
    public var name: AdapterName
    /// The served name of its base model.
    public var model: ModelName
    public var source: String

    public init(name: AdapterName, model: ModelName, source: String) {
        self.name = name
        self.model = model
        self.source = source
    }
}

/// One live worker in the ``ClusterView``.
public struct WorkerView: Codable, Sendable, Equatable {
    public var workerID: WorkerID
    public var httpURL: String
    public var servingEndpoint: String?
    public var model: ModelCard
    public var adapters: [AdapterSummary]
    public var metrics: LoadMetrics

    public init(workerID: WorkerID, httpURL: String, servingEndpoint: String?, model: ModelCard, adapters: [AdapterSummary], metrics: LoadMetrics) {
        self.workerID = workerID
        self.httpURL = httpURL
        self.servingEndpoint = servingEndpoint
        self.model = model
        self.adapters = adapters
        self.metrics = metrics
    }
}

/// A frontend asks for the cluster view, and keeps asking once a second: the pings let the
/// router forget frontends that went away and let a restarted router learn who listens.
public struct FrontendPing: Codable, Sendable, Equatable {
    public var frontendID: String
    /// The last view version the frontend holds; 0 for none.
    public var knownVersion: UInt64

    public init(frontendID: String, knownVersion: UInt64) {
        self.frontendID = frontendID
        self.knownVersion = knownVersion
    }
}

/// A peer refused a message, most often for its protocol version.
public struct Refusal: Codable, Sendable, Equatable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}
