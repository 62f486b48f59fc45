import PatchworkCore
import PatchworkEngine
import Testing

struct BlockPoolTests {
    let base = CacheNamespace.base(modelIdentity: "m")

    @Test func fullBlocksAreSharedAndTheLastTokenIsAlwaysComputed() throws {
        var pool = BlockPool(blockSize: 4, blockCount: 8)
        let tokens = Array(0..<8)
        var a = try pool.admit(tokens: tokens, namespace: base)
        #expect(a.cachedTokens == 0 && a.blockIDs.count == 2)
        pool.commit(&a, tokens: tokens, computedTokens: 8)
        // Exactly two full blocks: the second cannot be reused whole (its last token needs logits).
        let b = try pool.admit(tokens: tokens, namespace: base)
        #expect(b.cachedTokens == 4)
        #expect(b.blockIDs[0] == a.blockIDs[0] && b.blockIDs[1] != a.blockIDs[1])
        #expect(pool.usedBlocks == 3)
        pool.release(a)
        pool.release(b)
        #expect(pool.usedBlocks == 0 && pool.cachedBlocks == 2)
    }

    @Test func unreferencedBlocksAreEvictedLeastRecentlyReleasedFirst() throws {
        var pool = BlockPool(blockSize: 2, blockCount: 4)
        for prompt in [[1, 2, 9], [3, 4, 9]] {
            var s = try pool.admit(tokens: prompt, namespace: base)
            pool.commit(&s, tokens: prompt + [0], computedTokens: 3)  // one full block each
            pool.release(s)
        }
        _ = pool.drainEvents()
        // Needing all four blocks evicts both cached ones, the older ([1, 2]) first.
        let big = try pool.admit(tokens: Array(100..<108), namespace: base)
        let removed = pool.drainEvents().compactMap { event -> KVBlockHash? in
            if case .blockRemoved(let r) = event { return r.blockHashes[0] } else { return nil }
        }
        let first = BlockHasher.hash(parent: nil, namespace: base, tokens: [1, 2][...])
        let second = BlockHasher.hash(parent: nil, namespace: base, tokens: [3, 4][...])
        #expect(removed == [.integer(first), .integer(second)])
        #expect(throws: BlockPool.AllocationError.outOfBlocks(needed: 1, available: 0)) { try pool.admit(tokens: [1], namespace: base) }
        pool.release(big)
    }

    /// The events, sent through vLLM's wire format and replayed into an empty index, give the
    /// pool's cache exactly, after stores, shared prefixes and evictions.
    @Test func replayedEventsReproduceTheCache() throws {
        var pool = BlockPool(blockSize: 2, blockCount: 6)
        let adapter = CacheNamespace.adapter(name: try AdapterName("a"), digest: ContentDigest(bytes: Array(repeating: 7, count: 32)))
        var index: [KVBlockHash: (parent: KVBlockHash?, lora: String?)] = [:]
        var sequence: Int64 = 0
        func publish() throws {
            let batch = KVEventBatch(timestamp: 1, events: pool.drainEvents())
            let frame = KVEventFrame(topic: Array("w".utf8), sequence: sequence, payload: batch.encoded())
            sequence += 1
            for event in try KVEventBatch(decoding: KVEventFrame(frames: frame.frames).payload).events {
                switch event {
                case .blockStored(let s):
                    var parent = s.parentBlockHash
                    for hash in s.blockHashes { index[hash] = (parent, s.loraName); parent = hash }
                case .blockRemoved(let r): for hash in r.blockHashes { index[hash] = nil }
                case .allBlocksCleared: index = [:]
                }
            }
        }
        let prompts: [([Int], CacheNamespace)] = [([1, 2, 3, 4, 5], base), ([1, 2, 3, 9, 9], base), ([1, 2, 3, 4, 5], adapter), ([7, 7, 7, 7, 7, 7, 7], base)]
        for (prompt, namespace) in prompts {
            var s = try pool.admit(tokens: prompt, namespace: namespace)
            pool.commit(&s, tokens: prompt, computedTokens: prompt.count)
            pool.release(s)
            try publish()
        }
        let snapshot = Set(pool.snapshot().flatMap { event -> [KVBlockHash] in
            if case .blockStored(let s) = event { return s.blockHashes } else { return [] }
        })
        #expect(Set(index.keys) == snapshot)
        #expect(snapshot.count == pool.cachedBlocks)
        #expect(index.values.contains { $0.lora == "a" })
    }
}
