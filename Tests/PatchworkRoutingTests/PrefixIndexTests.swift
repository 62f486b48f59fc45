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
