import PatchworkCore

/// The router's own decisions in the prefix index: each routed prompt counts as cached on its
/// worker for a while, recorded through an ``ApproximateCache``.
///
/// - ``Mode/inFlight``, with KV events: engines only tell of blocks already stored, so a prompt
///   routed in the last `ttl` seconds is indexed under a pseudo worker per worker
///   (`in-flight:<id>`); concurrent requests sharing a prefix still being computed see it.
/// - ``Mode/approximate`` (`--no-kv-events`), for engines that publish no events: the index
///   holds only the decisions, under the worker itself, and engines' events are ignored.
public struct RoutedPromptIndex: Sendable {
    public enum Mode: Sendable, Equatable {
        case inFlight(ttl: Double)
        case approximate(ttl: Double)
    }

    public let mode: Mode
    private var cache: ApproximateCache
    /// In-flight mode: pseudo worker → the worker it stands for.
    private var owners: [WorkerID: WorkerID] = [:]
    /// In-flight mode: worker → its pseudo worker (made once: a decision builds no strings).
    private var pseudoWorkers: [WorkerID: WorkerID] = [:]

    public init(mode: Mode) {
        self.mode = mode
        switch mode {
        case .inFlight(let ttl), .approximate(let ttl): cache = ApproximateCache(ttl: ttl, blockSize: KVBlock.defaultSize)
        }
    }

    /// Whether the index learns from the engines' KV events (else only from decisions).
    public var followsEngineEvents: Bool { if case .inFlight = mode { true } else { false } }

    /// The index's name for the blocks routed to `worker` that its events do not show yet.
    public func indexID(of worker: WorkerID) -> WorkerID {
        switch mode {
        case .inFlight: Self.inFlightID(worker)
        case .approximate: worker
        }
    }

    /// The pseudo worker under which prompts routed to `worker` are indexed while in flight.
    public static func inFlightID(_ worker: WorkerID) -> WorkerID { WorkerID("in-flight:" + worker.rawValue) }

    /// Records a prompt routed to `worker`, by its blocks' node keys in the worker's block size
    /// (``PrefixIndex/blockKeys(_:blockSize:)``), under the weights it holds (`digest`).
    public mutating func record(
        keys: [UInt64], adapter: String?, digest: ContentDigest?, worker: WorkerID, now: Double, into index: inout PrefixIndex
    ) {
        guard !keys.isEmpty else { return }
        let id: WorkerID
        switch mode {
        case .approximate: id = worker
        case .inFlight:
            if let known = pseudoWorkers[worker] {
                id = known
            } else {
                id = Self.inFlightID(worker)
                pseudoWorkers[worker] = id
                owners[id] = worker
            }
        }
        let hashes = cache.record(keys: keys, adapter: adapter, worker: id, now: now)
        index.storeChain(keys: keys, hashes: hashes, in: PrefixIndex.Namespace(adapter: adapter, digest: digest), worker: id)
    }

    /// The worker whose decisions `id` (an id in the index) stands for, if it stands for any.
    public func worker(ofIndexID id: WorkerID) -> WorkerID? {
        switch mode {
        case .inFlight: owners[id]
        case .approximate: id
        }
    }

    /// Drops the decisions whose time is up.
    public mutating func expire(now: Double, from index: inout PrefixIndex) {
        for (id, events) in cache.expire(now: now) { index.apply(events, from: id) }
    }

    /// Forgets a worker that left (the caller removes its blocks from the index).
    public mutating func forget(_ worker: WorkerID) {
        cache.forget(indexID(of: worker))
        if case .inFlight = mode {
            owners[Self.inFlightID(worker)] = nil
            pseudoWorkers[worker] = nil
        }
    }
}
