import PatchworkCore

/// The router's choice of worker for a request.
///
/// For each live worker serving the model (and holding the adapter, when one is asked for):
///
///     cost(w) = prefillWeight · (promptBlocks − overlap(w))      blocks it would have to compute
///             + loadWeight    · busyBlocks(w)                     KV blocks in use: its running work
///             + residency penalty of the adapter on w             resident 0, host `hostPenalty`, disk `diskPenalty`
///
/// `overlap(w)` is how many leading full blocks of the prompt w holds under that adapter (the
/// prefix index). The lowest cost wins; ties go to the lowest worker id. Workers without the
/// adapter are chosen only when no worker has it. Defaults: prefill 1, load 1, host 2, disk 8.
public struct RoutingCost: Sendable, Equatable {
    public var prefillWeight: Double
    public var loadWeight: Double
    public var hostPenalty: Double
    public var diskPenalty: Double

    public init(prefillWeight: Double = 1, loadWeight: Double = 1, hostPenalty: Double = 2, diskPenalty: Double = 8) {
        self.prefillWeight = prefillWeight
        self.loadWeight = loadWeight
        self.hostPenalty = hostPenalty
        self.diskPenalty = diskPenalty
    }

    /// One worker's inputs.
    public struct Candidate: Sendable, Equatable {
        public var worker: WorkerID
        public var overlap: Int
        public var busyBlocks: Int
        /// The adapter's tier on this worker (`resident`, `host`, `disk`); nil for the base model.
        public var tier: String?

        public init(worker: WorkerID, overlap: Int, busyBlocks: Int, tier: String?) {
            self.worker = worker
            self.overlap = overlap
            self.busyBlocks = busyBlocks
            self.tier = tier
        }
    }

    public func cost(_ c: Candidate, promptBlocks: Int) -> Double {
        let residency: Double = switch c.tier {
        case "host": hostPenalty
        case "disk": diskPenalty
        default: 0
        }
        return prefillWeight * Double(max(0, promptBlocks - c.overlap)) + loadWeight * Double(c.busyBlocks) + residency
    }

    /// The cheapest candidate, ties to the lowest worker id.
    public func choose(_ candidates: [Candidate], promptBlocks: Int) -> (worker: WorkerID, cost: Double)? {
        candidates.map { ($0.worker, cost($0, promptBlocks: promptBlocks)) }
            .min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
    }
}
