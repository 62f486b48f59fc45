import PatchworkCore

/// Approximate mode (`--no-kv-events`), for engines that publish no KV events: the router
/// assumes a worker caches the full blocks of every prompt it sends there, for `ttl` seconds
/// (refreshed when the same prompt is sent again), and feeds the prefix index with the events
/// such an engine would have published.
///
/// Block hashes are a chain over the adapter's name and each block's token ids, so the same
/// prefix under the same adapter always names the same blocks, and a prompt's last hash names
/// the whole prompt. The cache keeps what was routed as such chains, each with its expiry, and
/// counts for each block the live chains that contain it: a block leaves when the last chain
/// through it expires. Routing a prompt again (most decisions) then refreshes one entry instead
/// of one per block, and since every chain holds its ancestors a parent never leaves before its
/// children.
public struct ApproximateCache: Sendable {
    public let ttl: Double
    /// Block size when `record` is given none.
    public let blockSize: Int
    private var routed: [WorkerID: Routed] = [:]

    /// One worker's routed prompts.
    private struct Routed: Sendable {
        /// A prompt's last block hash → when it expires, and its blocks' hashes.
        var chains: [UInt64: (expiry: Double, hashes: [UInt64])] = [:]
        /// Block hash → how many live chains contain it.
        var references: [UInt64: Int] = [:]
    }

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
        var hashes: [UInt64] = []
        hashes.reserveCapacity(keys.count)
        for key in keys {
            hash = Self.mix(hash, key)
            hashes.append(hash)
        }
        // Taken out, so that changing it does not copy it.
        var entry = routed.removeValue(forKey: worker) ?? Routed()
        if let known = entry.chains.index(forKey: hash) {
            entry.chains.values[known].expiry = now + ttl
        } else {
            entry.chains[hash] = (now + ttl, hashes)
            for block in hashes { entry.references[block, default: 0] += 1 }
        }
        routed[worker] = entry
        return hashes.map { .integer($0) }
    }

    /// Removal events of the blocks whose time is up, per worker.
    public mutating func expire(now: Double) -> [WorkerID: [KVEvent]] {
        var removals: [WorkerID: [KVEvent]] = [:]
        for worker in Array(routed.keys) {
            guard var entry = routed.removeValue(forKey: worker) else { continue }
            var expired: [KVBlockHash] = []
            // Found first, removed after: removing while iterating would copy the dictionary.
            let due = entry.chains.filter { $0.value.expiry <= now }
            for (leaf, chain) in due {
                entry.chains[leaf] = nil
                for block in chain.hashes {
                    let left = (entry.references[block] ?? 1) - 1
                    entry.references[block] = left > 0 ? left : nil
                    if left <= 0 { expired.append(.integer(block)) }
                }
            }
            if !entry.chains.isEmpty { routed[worker] = entry }
            if !expired.isEmpty { removals[worker] = [.blockRemoved(KVEvent.BlockRemoved(blockHashes: expired, medium: nil))] }
        }
        return removals
    }

    /// Forgets a worker that left.
    public mutating func forget(_ worker: WorkerID) { routed[worker] = nil }

    public func blockCount(of worker: WorkerID) -> Int { routed[worker]?.references.count ?? 0 }

    /// A block's hash from its parent's and its node key (a 64-bit mix, two multiplications).
    private static func mix(_ parent: UInt64, _ child: UInt64) -> UInt64 {
        var x = (parent &* 0x9E37_79B9_7F4A_7C15) ^ child
        x = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return x ^ (x >> 32)
    }
}
