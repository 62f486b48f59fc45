import PatchworkCore

/// The router's answer to one request, with what it weighed.
public struct RoutingDecision: Sendable, Equatable {
    /// The chosen worker, or nil when there is none.
    public var worker: ClusterMembership.Member?
    /// Set when the chosen worker must load the adapter first (no live worker holds it).
    public var loadSource: String?
    /// Why no worker was chosen.
    public var refusal: RouteDecision.Refusal?
    /// Full blocks of the prompt, in the block size of the costs.
    public var promptBlocks: Int
    /// Every candidate's cost inputs (overlaps in the block size of the costs).
    public var candidates: [RoutingCost.Candidate]

    /// The `route_decision` message for `route`.
    public func message(for route: RouteRequest) -> RouteDecision {
        RouteDecision(
            requestID: route.requestID, workerID: worker?.registration.workerID, servingEndpoint: worker?.registration.servingEndpoint,
            reason: worker == nil ? "no live worker serves \(route.adapter?.rawValue ?? route.model.rawValue)" : nil, refusal: refusal, loadSource: loadSource
        )
    }
}

extension RoutingCore {
    /// Chooses the worker for a request and records the decision: among the candidates
    /// (``CandidateFilter``), the ``WorkerSelector``'s choice over each one's ``RoutingCost``
    /// inputs:
    /// - overlap: the leading prompt blocks the worker holds under the adapter with the weights
    ///   it holds (its events, or prompts routed there in flight, whichever is longer), matched
    ///   in the worker's own block size and converted to the first candidate's;
    /// - busy blocks: its last load report plus the work routed there since;
    /// - residency: the adapter's tier on it (`absent` when it must load it first), and its free
    ///   adapter slots.
    /// The chosen worker's new blocks count as its unreported work, and the prompt as cached
    /// there (``RoutedPromptIndex``).
    public mutating func route(_ route: RouteRequest, now: Double) -> RoutingDecision {
        let members = membership.members
        let filter = CandidateFilter(route: route, members: members.values, sources: sources)
        var lookups = OverlapLookups(route: route)
        var candidates: [RoutingCost.Candidate] = []
        candidates.reserveCapacity(members.count)
        // Costs are in blocks of the first candidate's size; each worker's overlap is matched in
        // its own block size (workers may differ) and converted.
        var blockSize = 0
        // By index, so that each member is borrowed where it is stored rather than copied out
        // (a copy retains every string and array it holds: a tenth of a decision's time).
        let roster = members.values
        for position in roster.indices {
            guard let candidate = candidate(roster[position], filter: filter, lookups: &lookups, blockSize: &blockSize) else { continue }
            candidates.append(candidate)
        }
        let promptBlocks = route.promptIDs.count / (blockSize > 0 ? blockSize : KVBlock.defaultSize)
        guard let chosen = selector.select(from: candidates, promptBlocks: promptBlocks), let member = members[chosen] else {
            return RoutingDecision(
                worker: nil, loadSource: nil, refusal: filter.served ? .noWorkerAvailable : .modelNotFound, promptBlocks: promptBlocks, candidates: candidates
            )
        }
        let chosenOverlap = candidates.first { $0.worker == chosen }?.overlap ?? 0
        unreported.routed(max(0, promptBlocks - chosenOverlap) + 1, to: chosen, now: now)
        let size = max(1, member.registration.model.kvBlockSize)
        let digest = route.adapter.flatMap { name in member.adapters.first { $0.name == name }?.digest }
        routed.record(keys: lookups.keys(blockSize: size), adapter: route.adapter?.rawValue, digest: digest, worker: chosen, now: now, into: &index)
        return RoutingDecision(worker: member, loadSource: filter.loadSource, refusal: nil, promptBlocks: promptBlocks, candidates: candidates)
    }

    /// `m`'s cost inputs, if the filter admits it; `blockSize` is set by the first candidate.
    private func candidate(
        _ m: borrowing ClusterMembership.Member, filter: CandidateFilter, lookups: inout OverlapLookups, blockSize: inout Int
    ) -> RoutingCost.Candidate? {
        let (admitted, digest) = filter.admits(m)
        guard admitted else { return nil }
        let id = m.registration.workerID
        let size = max(1, m.registration.model.kvBlockSize)
        if blockSize == 0 { blockSize = size }
        let overlap = lookups.overlap(of: id, blockSize: size, digest: digest, index: index, routed: routed)
        let residency: RoutingCost.Residency? = filter.route.adapter.map { name in
            filter.loadSource != nil ? .absent : RoutingCost.Residency(m.metrics.adapters.first { $0.name == name }?.tier ?? .resident)
        }
        return RoutingCost.Candidate(
            worker: id, overlap: overlap * size / blockSize,
            busyBlocks: m.metrics.busyBlocks(blockSize: blockSize) + unreported.blocks(of: id), residency: residency,
            freeSlots: max(0, m.registration.model.lora.maxLoras - m.metrics.residentAdapters)
        )
    }
}

/// The prefix-index lookups of one decision: the prompt's block keys per block size, and one
/// overlap lookup per block size and weights, shared by the candidates that have them in
/// common (usually all). A worker's overlap is the longer of its own blocks and the prompts
/// routed to it in flight.
private struct OverlapLookups {
    let route: RouteRequest
    private var keysBySize: [(blockSize: Int, keys: [UInt64])] = []
    private var lookups: [(blockSize: Int, digest: ContentDigest?, overlaps: [(worker: WorkerID, blocks: Int)])] = []

    init(route: RouteRequest) { self.route = route }

    mutating func keys(blockSize: Int) -> [UInt64] {
        if let found = keysBySize.first(where: { $0.blockSize == blockSize }) { return found.keys }
        let keys = PrefixIndex.blockKeys(route.promptIDs, blockSize: blockSize)
        keysBySize.append((blockSize, keys))
        return keys
    }

    mutating func overlap(of worker: WorkerID, blockSize: Int, digest: ContentDigest?, index: PrefixIndex, routed: RoutedPromptIndex) -> Int {
        if let found = lookups.first(where: { $0.blockSize == blockSize && $0.digest == digest }) {
            return Self.blocks(of: worker, in: found.overlaps)
        }
        let byIndexID = index.overlap(keys: keys(blockSize: blockSize), in: PrefixIndex.Namespace(adapter: route.adapter?.rawValue, digest: digest))
        // A short list, searched in order: few workers hold a given prompt, and comparing a few
        // names costs less than hashing one for every candidate.
        var overlaps: [(worker: WorkerID, blocks: Int)] = []
        for (id, blocks) in byIndexID {
            let owner = routed.worker(ofIndexID: id) ?? id
            if let at = overlaps.firstIndex(where: { $0.worker == owner }) {
                overlaps[at].blocks = max(overlaps[at].blocks, blocks)
            } else {
                overlaps.append((owner, blocks))
            }
        }
        lookups.append((blockSize, digest, overlaps))
        return Self.blocks(of: worker, in: overlaps)
    }

    private static func blocks(of worker: WorkerID, in overlaps: [(worker: WorkerID, blocks: Int)]) -> Int {
        for entry in overlaps where entry.worker == worker { return entry.blocks }
        return 0
    }
}
