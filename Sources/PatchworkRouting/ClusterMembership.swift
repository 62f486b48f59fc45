import PatchworkCore

/// Which workers are alive, what they serve and how loaded they are, as a pure value driven by
/// their messages and an injected clock. The router process feeds it and publishes ``view``.
///
/// A worker is alive from its registration until `missedHeartbeatsAllowed` of its heartbeat
/// intervals pass without a message from it; then ``expire(now:heard:)`` declares it dead and it
/// leaves the view (with its adapters and its cached blocks). Silence is measured on a
/// ``SilenceClock`` (time the router spent stalled is not the worker's silence) and from the
/// moment a message *arrived* (stamped by the socket's thread), not when the router got to it.
public struct ClusterMembership: Sendable {
    public struct Member: Sendable, Equatable {
        public var registration: WorkerRegistration
        /// The ZeroMQ routing id of the worker's connection, for replies.
        public var peer: [UInt8]
        public var adapters: [AdapterSummary]
        public var metrics: LoadMetrics
        /// ``SilenceClock`` time of the last message handled.
        public var lastSeen: Double
        /// Wall-clock time of the last message handled.
        public var lastSeenWall: Double
    }

    public let routerID: String
    public let missedHeartbeatsAllowed: Int
    public private(set) var members: [WorkerID: Member] = [:]
    /// Grows with every change of the view.
    public private(set) var version: UInt64 = 0
    private var clock: SilenceClock

    /// - Parameters:
    ///   - initialVersion: where ``version`` starts. A router passes its start time in
    ///     microseconds, so versions keep growing across restarts and a frontend never mistakes a
    ///     restarted router's view for the one it holds.
    ///   - maxObservationGap: the longest gap between two calls that counts in full towards
    ///     silence (see ``SilenceClock``); a caller that calls at least every few hundred
    ///     milliseconds passes a small multiple of its period. Unbounded by default.
    public init(routerID: String, missedHeartbeatsAllowed: Int = 3, initialVersion: UInt64 = 0, maxObservationGap: Double = .infinity) {
        self.routerID = routerID
        self.missedHeartbeatsAllowed = missedHeartbeatsAllowed
        version = initialVersion
        clock = SilenceClock(maxGap: maxObservationGap)
    }

    /// A worker registers (first time, or again after a restart of it or of the router).
    public mutating func register(_ registration: WorkerRegistration, peer: [UInt8], now: Double) {
        let member = Member(
            registration: registration, peer: peer, adapters: registration.adapters.sortedByName(),
            metrics: registration.metrics, lastSeen: clock.read(now), lastSeenWall: now
        )
        members[registration.workerID] = member
        version += 1
    }

    public enum Outcome: Sendable, Equatable {
        /// The worker is not registered here: ask it to register.
        case unknownWorker
        case accepted(viewChanged: Bool)
    }

    public mutating func heartbeat(_ heartbeat: WorkerHeartbeat, peer: [UInt8], now: Double) -> Outcome {
        guard var member = members[heartbeat.workerID] else { return .unknownWorker }
        member.lastSeen = clock.read(now)
        member.lastSeenWall = now
        member.peer = peer
        let adapters = heartbeat.adapters.sortedByName()
        let changed = adapters != member.adapters || heartbeat.metrics != member.metrics
        member.adapters = adapters
        member.metrics = heartbeat.metrics
        members[heartbeat.workerID] = member
        if changed { version += 1 }
        return .accepted(viewChanged: changed)
    }

    /// A load report between heartbeats: used for routing; the view's version does not change
    /// (frontends get load with the heartbeats), nor does liveness.
    public mutating func updateLoad(_ worker: WorkerID, metrics: LoadMetrics) -> Bool {
        guard members[worker] != nil else { return false }
        members[worker]!.metrics = metrics
        return true
    }

    public mutating func adapterEvent(_ event: AdapterEvent, now: Double) -> Outcome {
        guard var member = members[event.workerID] else { return .unknownWorker }
        member.lastSeen = clock.read(now)
        member.lastSeenWall = now
        let before = member.adapters
        member.adapters.removeAll { $0.name == event.adapter.name }
        if event.kind == .loaded { member.adapters = (member.adapters + [event.adapter]).sortedByName() }
        members[event.workerID] = member
        let changed = before != member.adapters
        if changed { version += 1 }
        return .accepted(viewChanged: changed)
    }

    /// Removes the workers silent for longer than they are allowed; returns them.
    /// - Parameter heard: when the transport last received anything from a peer (wall-clock
    ///   seconds), which may be later than the last message handled here.
    public mutating func expire(now: Double, heard: ([UInt8]) -> Double? = { _ in nil }) -> [Member] {
        let observedNow = clock.read(now)
        let dead = members.values.filter { member in
            var silence = observedNow - member.lastSeen
            if let arrived = heard(member.peer), arrived > member.lastSeenWall {
                silence = min(silence, now - arrived)
            }
            return silence > member.registration.heartbeatInterval * Double(missedHeartbeatsAllowed)
        }.sorted { $0.registration.workerID < $1.registration.workerID }
        for member in dead { members[member.registration.workerID] = nil }
        if !dead.isEmpty { version += 1 }
        return dead
    }

    /// A worker said goodbye (graceful shutdown).
    public mutating func remove(_ workerID: WorkerID) -> Member? {
        guard let member = members.removeValue(forKey: workerID) else { return nil }
        version += 1
        return member
    }

    public var view: ClusterView {
        ClusterView(
            routerID: routerID, version: version,
            workers: members.values.sorted { $0.registration.workerID < $1.registration.workerID }.map { m in
                WorkerView(
                    workerID: m.registration.workerID, httpURL: m.registration.httpURL,
                    servingEndpoint: m.registration.servingEndpoint, model: m.registration.model,
                    adapters: m.adapters, metrics: m.metrics
                )
            }
        )
    }
}

extension [AdapterSummary] {
    func sortedByName() -> [AdapterSummary] { sorted { $0.name < $1.name } }
}
