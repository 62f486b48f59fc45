import PatchworkCore
import PatchworkRouting
import Testing

struct PrefixIndexTests {
    let w1 = WorkerID("w1"), w2 = WorkerID("w2")

    func stored(_ hashes: [UInt64], parent: UInt64?, tokens: [Int], lora: String? = nil) -> KVEvent {
        .blockStored(.init(blockHashes: hashes.map { .integer($0) }, parentBlockHash: parent.map { .integer($0) }, tokenIDs: tokens,
                           blockSize: 2, loraID: nil, medium: "CPU", loraName: lora))
    }

    @Test func matchesTheLongestPrefixEachWorkerHolds() {
        var index = PrefixIndex(blockSize: 2)
        // Engines name blocks their own way; only token contents decide matches.
        let first = index.apply([stored([101, 102, 103], parent: nil, tokens: [1, 2, 3, 4, 5, 6])], from: w1)
        let second = index.apply([stored([9], parent: nil, tokens: [1, 2]), stored([8, 7], parent: 9, tokens: [3, 4, 7, 7])], from: w2)
        #expect(first && second)
        #expect(index.overlap(tokens: [1, 2, 3, 4, 5, 6, 0], adapter: nil) == [w1: 3, w2: 2])
        #expect(index.overlap(tokens: [1, 2, 3, 4, 7, 7], adapter: nil) == [w1: 2, w2: 3])
        #expect(index.overlap(tokens: [1, 3], adapter: nil).isEmpty)
        // A partial last block never counts.
        #expect(index.overlap(tokens: [1, 2, 3], adapter: nil) == [w1: 1, w2: 1])
    }

    /// Engines with different block sizes share one index: each is matched in its own size.
    @Test func workersWithOtherBlockSizesMatchInTheirOwn() {
        var index = PrefixIndex(blockSize: 2)
        index.apply([stored([1, 2], parent: nil, tokens: [1, 2, 3, 4])], from: w1)  // two blocks of 2
        index.apply([.blockStored(.init(blockHashes: [.integer(7)], parentBlockHash: nil, tokenIDs: [1, 2, 3, 4], blockSize: 4,
                                        loraID: nil, medium: nil, loraName: nil))], from: w2)  // one block of 4
        #expect(index.overlap(tokens: [1, 2, 3, 4, 5], adapter: nil) == [w1: 2])
        #expect(index.overlap(tokens: [1, 2, 3, 4, 5], adapter: nil, blockSize: 4) == [w2: 1])
    }

    @Test func adaptersNeverMatchEachOther() {
        var index = PrefixIndex(blockSize: 2)
        index.apply([stored([1], parent: nil, tokens: [5, 5], lora: "a")], from: w1)
        index.apply([stored([2], parent: nil, tokens: [5, 5], lora: nil)], from: w2)
        #expect(index.overlap(tokens: [5, 5, 0], adapter: "a") == [w1: 1])
        #expect(index.overlap(tokens: [5, 5, 0], adapter: nil) == [w2: 1])
        #expect(index.overlap(tokens: [5, 5, 0], adapter: "b").isEmpty)
    }

    @Test func removalsAndWorkerRemovalForgetBlocks() {
        var index = PrefixIndex(blockSize: 2)
        index.apply([stored([1, 2], parent: nil, tokens: [1, 1, 2, 2])], from: w1)
        index.apply([stored([7, 8], parent: nil, tokens: [1, 1, 2, 2])], from: w2)
        index.apply([.blockRemoved(.init(blockHashes: [.integer(2)], medium: nil))], from: w1)
        #expect(index.overlap(tokens: [1, 1, 2, 2, 0], adapter: nil) == [w1: 1, w2: 2])
        index.removeWorker(w2)
        #expect(index.overlap(tokens: [1, 1, 2, 2, 0], adapter: nil) == [w1: 1])
        #expect(index.blockCount(of: w2) == 0)
        index.apply([.allBlocksCleared], from: w1)
        #expect(index.overlap(tokens: [1, 1, 2, 2, 0], adapter: nil).isEmpty)
    }

    @Test func anUnknownParentIsReportedAsAGap() {
        var index = PrefixIndex(blockSize: 2)
        let consistent = index.apply([stored([5], parent: 4, tokens: [1, 2])], from: w1)
        #expect(!consistent)
    }
}

/// Trees per adapter name *and* weights, removal by namespace, and the block keys.
struct PrefixIndexNamespaceTests {
    let w1 = WorkerID("w1"), w2 = WorkerID("w2")

    /// The same name with other weights is another tree: the same tokens never match across.
    @Test func weightsUnderOneNameAreSeparateTrees() {
        var index = PrefixIndex(blockSize: 2)
        let event = Fixtures.stored([1, 2], tokens: [5, 5, 6, 6], blockSize: 2, lora: "a")
        index.apply([event], from: w1, digests: ["a": Fixtures.digest(1)])
        index.apply([event], from: w2, digests: ["a": Fixtures.digest(2)])
        #expect(index.overlap(tokens: [5, 5, 6, 6], adapter: "a", digest: Fixtures.digest(1)) == [w1: 2])
        #expect(index.overlap(tokens: [5, 5, 6, 6], adapter: "a", digest: Fixtures.digest(2)) == [w2: 2])
        // A worker the caller knows no digest for: the name's tree without one.
        #expect(index.overlap(tokens: [5, 5, 6, 6], adapter: "a").isEmpty)
        // A child links to its parent whatever the digests given with it.
        index.apply([Fixtures.stored([3], parent: 2, tokens: [7, 7], blockSize: 2, lora: "a")], from: w1)
        #expect(index.overlap(tokens: [5, 5, 6, 6, 7, 7], adapter: "a", digest: Fixtures.digest(1)) == [w1: 3])
    }

    @Test func removingANamespaceLeavesTheWorkersOtherBlocks() {
        var index = PrefixIndex(blockSize: 2)
        let digests = ["a": Fixtures.digest(1)]
        index.apply([Fixtures.stored([1, 2], tokens: [5, 5, 6, 6], blockSize: 2, lora: "a"), Fixtures.stored([3], tokens: [5, 5], blockSize: 2)], from: w1, digests: digests)
        index.apply([Fixtures.stored([9], tokens: [5, 5], blockSize: 2, lora: "a")], from: w2, digests: digests)
        index.removeBlocks(in: .init(adapter: "a", digest: Fixtures.digest(1)), of: w1)
        #expect(index.blockCount(of: w1) == 1)
        #expect(index.overlap(tokens: [5, 5, 6, 6], adapter: "a", digest: Fixtures.digest(1)) == [w2: 1])
        #expect(index.overlap(tokens: [5, 5], adapter: nil) == [w1: 1])
        // Removals of the forgotten blocks' hashes change nothing.
        index.apply([.blockRemoved(.init(blockHashes: [.integer(1), .integer(2)], medium: nil))], from: w1)
        #expect(index.blockCount(of: w1) == 1)
        // An empty name is the base model, as vLLM may send it.
        #expect(PrefixIndex.Namespace(adapter: "", digest: nil) == PrefixIndex.Namespace(adapter: nil, digest: nil))
    }

    /// A worker that names another block with a hash it used before no longer holds the first.
    @Test func aReusedHashMovesToItsNewBlock() {
        var index = PrefixIndex(blockSize: 2)
        index.apply([Fixtures.stored([1], tokens: [5, 5], blockSize: 2)], from: w1)
        index.apply([Fixtures.stored([1], tokens: [8, 8], blockSize: 2)], from: w1)
        #expect(index.overlap(tokens: [5, 5], adapter: nil).isEmpty)
        #expect(index.overlap(tokens: [8, 8], adapter: nil) == [w1: 1])
        #expect(index.blockCount(of: w1) == 1)
    }

    /// Block keys four at a time equal the one-block hash, for every remainder.
    @Test(arguments: [0, 1, 3, 4, 5, 9, 16])
    func blockKeysAreTheContentHashOfEachBlock(blocks: Int) {
        let tokens = (0..<(blocks * 16 + 7)).map { ($0 * 7919) % 70_000 - 3 }
        let keys = PrefixIndex.blockKeys(tokens, blockSize: 16)
        #expect(keys == (0..<blocks).map { PrefixIndex.contentHash(tokens[$0 * 16..<($0 + 1) * 16]) })
        // The multiply–xorshift chain from its seed, computed in Python: x = (seed ^ token) ·
        // 0x9E3779B97F4A7C15 mod 2^64, then x ^ (x >> 29), for tokens 1 then 2.
        #expect(PrefixIndex.blockKeys([1], blockSize: 1) == [0x5a84_1912_b01a_9977])
        #expect(PrefixIndex.blockKeys([1, 2], blockSize: 2) == [0xf1a3_6834_364e_0304])
    }

    /// Slots of removed workers are reused without mixing their blocks up.
    @Test func aWorkerAfterAnotherOnesRemovalStartsEmpty() {
        var index = PrefixIndex(blockSize: 2)
        index.apply([Fixtures.stored([1], tokens: [5, 5], blockSize: 2)], from: w1)
        index.removeWorker(w1)
        index.apply([Fixtures.stored([2], tokens: [6, 6], blockSize: 2)], from: w2)
        #expect(index.overlap(tokens: [5, 5], adapter: nil).isEmpty)
        #expect(index.overlap(tokens: [6, 6], adapter: nil) == [w2: 1])
        #expect(index.workers == [w2])
    }
}
