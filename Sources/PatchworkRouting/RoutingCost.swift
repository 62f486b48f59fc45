import Foundation
import PatchworkCore

/// The router's choice of worker for a request.
///
/// For each live worker serving the model (and holding the adapter, when one is asked for):
///
///     cost(w) = prefillWeight · (promptBlocks − overlap(w))      blocks it would have to compute
///             + loadWeight    · busyBlocks(w)                     its work in blocks: prefill still
///                                                                 to compute + blocks of decoding
///                                                                 requests (last load report), plus
///                                                                 the prompt blocks routed there since
///             + residency penalty of the adapter on w             resident 0, host `hostPenalty`,
///                                                                 disk `diskPenalty`, absent
///                                                                 `absentPenalty` (it loads it first)
///             + `evictionPenalty` when the adapter is not resident on w and w has no free
///               adapter slot (making it resident evicts another adapter)
///
/// `overlap(w)` is how many leading full blocks of the prompt w holds under that adapter (the
/// prefix index). Workers without the adapter are candidates only when no live worker has it
/// and its source is known; then every worker of the model is, at `absentPenalty`.
///
/// With `temperature` 0 (the default) the lowest cost wins; among equal costs the larger overlap
/// (reuse saves compute for everyone), then the lowest worker id.
/// Above 0, a worker is drawn with probability ∝ exp(−(cost − min cost) / temperature), which
/// spreads equal-cost work (a hot prefix) without giving up the preference.
///
/// Defaults: prefill 1, load 1, host 2, disk 8, absent 16, eviction 4, temperature 0.
///
/// ``RoutingPolicy`` `roundRobin` and `random` ignore costs (baselines for benchmarks, and for
/// engines whose caches do not matter); adapter placement rules still apply.
public struct RoutingCost: Sendable, Equatable {
    public var prefillWeight: Double
    public var loadWeight: Double
    public var hostPenalty: Double
    public var diskPenalty: Double
    public var absentPenalty: Double
    public var evictionPenalty: Double
    public var temperature: Double

    public init(
        prefillWeight: Double = 1, loadWeight: Double = 1, hostPenalty: Double = 2, diskPenalty: Double = 8, absentPenalty: Double = 16,
        evictionPenalty: Double = 4, temperature: Double = 0
    ) {
        self.prefillWeight = prefillWeight
        self.loadWeight = loadWeight
        self.hostPenalty = hostPenalty
        self.diskPenalty = diskPenalty
        self.absentPenalty = absentPenalty
        self.evictionPenalty = evictionPenalty
        self.temperature = temperature
    }

    /// Where a worker holds the requested adapter.
    public enum Residency: String, Sendable, Equatable {
        case resident, host, disk
        /// Not loaded: the worker would load it first.
        case absent

        /// Where a loaded adapter is.
        public init(_ tier: AdapterTier) {
            switch tier {
            case .resident: self = .resident
            case .host: self = .host
            case .disk: self = .disk
            }
        }
    }

    /// One worker's inputs.
    public struct Candidate: Sendable, Equatable {
        public var worker: WorkerID
        public var overlap: Int
        public var busyBlocks: Int
        /// The adapter's residency on this worker; nil for the base model.
        public var residency: Residency?
        /// Adapter slots free for compute (`--max-loras` minus resident adapters).
        public var freeSlots: Int

        public init(worker: WorkerID, overlap: Int, busyBlocks: Int, residency: Residency?, freeSlots: Int = 1) {
            self.worker = worker
            self.overlap = overlap
            self.busyBlocks = busyBlocks
            self.residency = residency
            self.freeSlots = freeSlots
        }
    }

    public func cost(_ c: Candidate, promptBlocks: Int) -> Double {
        let residency: Double = switch c.residency {
        case .host: hostPenalty
        case .disk: diskPenalty
        case .absent: absentPenalty
        case .resident, nil: 0
        }
        let eviction = (c.residency == nil || c.residency == .resident || c.freeSlots > 0) ? 0 : evictionPenalty
        return eviction + prefillWeight * Double(max(0, promptBlocks - c.overlap)) + loadWeight * Double(c.busyBlocks) + residency
    }

    /// The chosen candidate and its cost: the cheapest (ties to the lowest worker id), or a
    /// softmax draw when `temperature` > 0.
    public func choose<R: RandomNumberGenerator>(_ candidates: [Candidate], promptBlocks: Int, using random: inout R) -> (worker: WorkerID, cost: Double)? {
        guard temperature > 0, candidates.count > 1 else { return cheapest(candidates, promptBlocks: promptBlocks) }
        let costs: [(worker: WorkerID, cost: Double, overlap: Int)] = candidates.map {
            (worker: $0.worker, cost: cost($0, promptBlocks: promptBlocks), overlap: $0.overlap)
        }
        let sorted = costs.sorted { a, b in
            a.cost != b.cost ? a.cost < b.cost : (a.overlap != b.overlap ? a.overlap > b.overlap : a.worker < b.worker)
        }
        let scored = sorted.map { (worker: $0.worker, cost: $0.cost) }
        guard let best = scored.first else { return nil }
        guard temperature > 0, scored.count > 1 else { return best }
        let weights: [Double] = scored.map { candidate in exp((best.cost - candidate.cost) / temperature) }
        var draw = Double.random(in: 0..<weights.reduce(0, +), using: &random)
        for (candidate, weight) in zip(scored, weights) {
            if draw < weight { return candidate }
            draw -= weight
        }
        return scored.last
    }

    /// The first of `candidates` ordered by cost, then larger overlap, then worker id: one pass,
    /// without sorting (a decision's common case).
    private func cheapest(_ candidates: [Candidate], promptBlocks: Int) -> (worker: WorkerID, cost: Double)? {
        var best: (candidate: Candidate, cost: Double)?
        for candidate in candidates {
            let c = cost(candidate, promptBlocks: promptBlocks)
            guard let current = best else {
                best = (candidate, c)
                continue
            }
            if c != current.cost ? c < current.cost
                : (candidate.overlap != current.candidate.overlap ? candidate.overlap > current.candidate.overlap : candidate.worker < current.candidate.worker) {
                best = (candidate, c)
            }
        }
        return best.map { ($0.candidate.worker, $0.cost) }
    }

    public func choose(_ candidates: [Candidate], promptBlocks: Int) -> (worker: WorkerID, cost: Double)? {
        var random = SystemRandomNumberGenerator()
        return choose(candidates, promptBlocks: promptBlocks, using: &random)
    }
}

/// How the router chooses among the candidate workers (`--routing-policy`).
public enum RoutingPolicy: String, Sendable, CaseIterable {
    /// The lowest ``RoutingCost`` (the default).
    case kv
    /// Each worker in turn, by worker id.
    case roundRobin = "round-robin"
    /// Uniformly at random.
    case random
}
