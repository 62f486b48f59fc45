/// A worker's load, sent in every heartbeat; the router weighs it when it picks a worker.
public struct LoadMetrics: Codable, Sendable, Equatable {
    public var runningRequests: Int
    public var waitingRequests: Int
    public var kvBlocksUsed: Int
    public var kvBlocksTotal: Int
    /// Adapters whose weights are ready for compute (at most `--max-loras`).
    public var residentAdapters: Int
    /// Per loaded adapter: where its weights are and its requests.
    public var adapters: [AdapterLoad] = []
    /// Prompt tokens not yet computed (waiting requests and prefills under way); nil from
    /// workers that do not report it.
    public var queuedPrefillTokens: Int?
    /// KV blocks of the requests that are decoding.
    public var decodeBlocks: Int?

    public init(runningRequests: Int = 0, waitingRequests: Int = 0, kvBlocksUsed: Int = 0, kvBlocksTotal: Int = 0, residentAdapters: Int = 0) {
        self.runningRequests = runningRequests
        self.waitingRequests = waitingRequests
        self.kvBlocksUsed = kvBlocksUsed
        self.kvBlocksTotal = kvBlocksTotal
        self.residentAdapters = residentAdapters
    }
}

/// Where a loaded adapter's weights are on a worker: ready for compute, in host memory in the
/// file's compact form, or on disk only.
public enum AdapterTier: String, Codable, Sendable, Equatable, CaseIterable {
    case resident, host, disk
}

/// One adapter's residency and requests on a worker.
public struct AdapterLoad: Codable, Sendable, Equatable {
    public var name: AdapterName
    public var tier: AdapterTier
    public var running: Int
    /// Requests waiting for the adapter to become resident.
    public var waiting: Int

    public init(name: AdapterName, tier: AdapterTier, running: Int, waiting: Int) {
        self.name = name
        self.tier = tier
        self.running = running
        self.waiting = waiting
    }
}
