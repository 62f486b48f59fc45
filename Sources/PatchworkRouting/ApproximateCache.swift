import PatchworkCore

/// Approximate mode (`--no-kv-events`), for engines that publish no KV events: the router
/// assumes a worker caches the full blocks of every prompt it sends there, for `ttl` seconds
/// (refreshed when a prompt sharing them is sent again), and feeds the prefix index with the
/// events such an engine would have published.
///
/// Block hashes are a chain over the adapter's name and each block's token ids, so the same
/// prefix under the same adapter always names the same blocks. A block's expiry is never earlier
/// than its children's (recording a prompt refreshes every block of it), so expiring from the
/// root down never strands a reachable child.
public struct ApproximateCache: Sendable {
    public let ttl: Double
    /// Block size when `record` is given none.
    public let blockSize: Int
    private var expiry: [WorkerID: [KVBlockHash: Double]] = [:]

    public init(ttl: Double, blockSize: Int) {
        self.ttl = ttl
        self.blockSize = blockSize
    }

    /// The events that record `tokens`' full blocks under `adapter` on `worker`.
    public mutating func record(tokens: [Int], adapter: String?, worker: WorkerID, now: Double, blockSize: Int? = nil) -> [KVEvent] {
        let blockSize = max(1, blockSize ?? self.blockSize)
        let blocks = tokens.count / blockSize
        guard blocks > 0 else { return [] }
        var hash = PrefixIndex.contentHash((adapter ?? "").utf8.map(Int.init)[...])
        var hashes: [KVBlockHash] = []
        for block in 0..<blocks {
            hash = Self.mix(hash, PrefixIndex.contentHash(tokens[block * blockSize..<(block + 1) * blockSize]))
            hashes.append(.integer(hash))
            expiry[worker, default: [:]][.integer(hash)] = now + ttl
        }
        return [.blockStored(KVEvent.BlockStored(
            blockHashes: hashes, parentBlockHash: nil, tokenIDs: Array(tokens[..<(blocks * blockSize)]), blockSize: blockSize,
            loraID: nil, medium: nil, loraName: adapter
        ))]
    }

    /// Removal events of the blocks whose time is up, per worker.
    public mutating func expire(now: Double) -> [WorkerID: [KVEvent]] {
        var removals: [WorkerID: [KVEvent]] = [:]
        for (worker, blocks) in expiry {
            let expired = blocks.filter { $0.value <= now }.map(\.key)
            guard !expired.isEmpty else { continue }
            for hash in expired { expiry[worker]?[hash] = nil }
            if expiry[worker]?.isEmpty == true { expiry[worker] = nil }
            removals[worker] = [.blockRemoved(KVEvent.BlockRemoved(blockHashes: expired, medium: nil))]
        }
        return removals
    }

    /// Forgets a worker that left.
    public mutating func forget(_ worker: WorkerID) { expiry[worker] = nil }

    public func blockCount(of worker: WorkerID) -> Int { expiry[worker]?.count ?? 0 }

    private static func mix(_ parent: UInt64, _ child: UInt64) -> UInt64 {
        var hash = parent ^ 0x9E37_79B9_7F4A_7C15
        for shift in stride(from: 0, to: 64, by: 8) {
            hash ^= (child >> UInt64(shift)) & 0xff
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}
