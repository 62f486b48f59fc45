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
    /// Per worker: block hash → when it expires.
    private var expiry: [WorkerID: [UInt64: Double]] = [:]

    public init(ttl: Double, blockSize: Int) {
        self.ttl = ttl
        self.blockSize = blockSize
    }

    /// The events that record `tokens`' full blocks under `adapter` on `worker`.
    public mutating func record(tokens: [Int], adapter: String?, worker: WorkerID, now: Double, blockSize: Int? = nil) -> [KVEvent] {
        let blockSize = max(1, blockSize ?? self.blockSize)
        let blocks = tokens.count / blockSize
        guard blocks > 0 else { return [] }
        let hashes = record(keys: PrefixIndex.blockKeys(tokens, blockSize: blockSize), adapter: adapter, worker: worker, now: now)
        return [.blockStored(KVEvent.BlockStored(
            blockHashes: hashes, parentBlockHash: nil, tokenIDs: Array(tokens[..<(blocks * blockSize)]), blockSize: blockSize,
            loraID: nil, medium: nil, loraName: adapter
        ))]
    }

    /// Records a prompt's blocks by their node keys (``PrefixIndex/blockKeys(_:blockSize:)``);
    /// returns the blocks' hashes, for ``PrefixIndex/storeChain(keys:hashes:in:worker:)``.
    public mutating func record(keys: [UInt64], adapter: String?, worker: WorkerID, now: Double) -> [KVBlockHash] {
        guard !keys.isEmpty else { return [] }
        var hash = PrefixIndex.contentHash((adapter ?? "").utf8.map(Int.init)[...])
        var hashes: [KVBlockHash] = []
        hashes.reserveCapacity(keys.count)
        var blocks = expiry.removeValue(forKey: worker) ?? [:]
        for key in keys {
            hash = Self.mix(hash, key)
            hashes.append(.integer(hash))
            blocks[hash] = now + ttl
        }
        expiry[worker] = blocks
        return hashes
    }

    /// Removal events of the blocks whose time is up, per worker.
    public mutating func expire(now: Double) -> [WorkerID: [KVEvent]] {
        var removals: [WorkerID: [KVEvent]] = [:]
        for worker in Array(expiry.keys) {
            // Taken out, so that removing from it does not copy it.
            guard var blocks = expiry.removeValue(forKey: worker) else { continue }
            let expired = blocks.filter { $0.value <= now }.map(\.key)
            for hash in expired { blocks[hash] = nil }
            if !blocks.isEmpty { expiry[worker] = blocks }
            if !expired.isEmpty { removals[worker] = [.blockRemoved(KVEvent.BlockRemoved(blockHashes: expired.map { .integer($0) }, medium: nil))] }
        }
        return removals
    }

    /// Forgets a worker that left.
    public mutating func forget(_ worker: WorkerID) { expiry[worker] = nil }

    public func blockCount(of worker: WorkerID) -> Int { expiry[worker]?.count ?? 0 }

    private static func mix(_ parent: UInt64, _ child: UInt64) -> UInt64 {
        var hash = parent ^ 0x9E37_79B9_7F4A_7C15
        for shift in stride(from: 0, to: 64, by: 8) { hash = FNV1a.step(hash, UInt8(truncatingIfNeeded: child >> UInt64(shift))) }
        return hash
    }
}
