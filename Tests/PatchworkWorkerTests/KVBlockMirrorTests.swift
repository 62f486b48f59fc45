import PatchworkCore
@testable import PatchworkWorker
import Testing

/// The blocks a vLLM server holds, rebuilt from its events as vLLM sends them: chains split into
/// one block each, a hash stored twice kept once in its first place, a hash removed twice gone
/// once, everything gone after `AllBlocksCleared`.
struct KVBlockMirrorTests {
    static func stored(_ hashes: [UInt64], parent: UInt64?, tokens: [Int], lora: String? = nil) -> KVEvent {
        .blockStored(KVEvent.BlockStored(
            blockHashes: hashes.map { .integer($0) }, parentBlockHash: parent.map { .integer($0) }, tokenIDs: tokens, blockSize: 2,
            loraID: nil, medium: "GPU", loraName: lora
        ))
    }

    static func removed(_ hashes: [UInt64]) -> KVEvent { .blockRemoved(KVEvent.BlockRemoved(blockHashes: hashes.map { .integer($0) }, medium: "GPU")) }

    @Test func aSnapshotListsEveryHeldBlockParentFirst() {
        var mirror = KVBlockMirror()
        mirror.apply([Self.stored([1, 2], parent: nil, tokens: [10, 11, 12, 13], lora: "a")])
        mirror.apply([Self.stored([3], parent: 2, tokens: [14, 15], lora: "a"), Self.stored([1], parent: nil, tokens: [10, 11], lora: "a")])
        #expect(mirror.snapshot == [
            Self.stored([1], parent: nil, tokens: [10, 11], lora: "a"),
            Self.stored([2], parent: 1, tokens: [12, 13], lora: "a"),
            Self.stored([3], parent: 2, tokens: [14, 15], lora: "a"),
        ])
    }

    @Test func removalsTwiceAndClearsLeaveWhatVLLMHolds() {
        var mirror = KVBlockMirror()
        mirror.apply([Self.stored([1, 2, 3], parent: nil, tokens: [1, 2, 3, 4, 5, 6]), Self.removed([3]), Self.removed([3])])
        #expect(mirror.count == 2)
        #expect(mirror.snapshot.last == Self.stored([2], parent: 1, tokens: [3, 4]))
        mirror.apply([.allBlocksCleared, Self.stored([7], parent: nil, tokens: [9, 9])])
        #expect(mirror.snapshot == [Self.stored([7], parent: nil, tokens: [9, 9])])
    }
}
