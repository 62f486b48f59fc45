import PatchworkCore

/// The blocks an engine holds, as its KV events tell (for an engine whose cache the worker cannot
/// read: a vLLM server), so that a router that lost events can get a snapshot.
///
/// vLLM's events may store a hash twice and remove it twice; a block stored again keeps its place,
/// a block removed twice is gone once. A snapshot lists every block as one `BlockStored` of its
/// own, in the order the blocks were first stored, so a parent always comes before its children.
struct KVBlockMirror: Sendable {
    private struct Block: Sendable {
        var order: Int
        var event: KVEvent.BlockStored
    }

    private var blocks: [KVBlockHash: Block] = [:]
    private var nextOrder = 0

    var count: Int { blocks.count }

    mutating func apply(_ events: [KVEvent]) {
        for event in events {
            switch event {
            case .blockStored(let stored):
                var parent = stored.parentBlockHash
                for (i, hash) in stored.blockHashes.enumerated() {
                    let start = i * stored.blockSize, end = min(stored.tokenIDs.count, start + stored.blockSize)
                    if blocks[hash] == nil {
                        let tokens = start < end ? Array(stored.tokenIDs[start..<end]) : []
                        blocks[hash] = Block(order: nextOrder, event: KVEvent.BlockStored(
                            blockHashes: [hash], parentBlockHash: parent, tokenIDs: tokens, blockSize: stored.blockSize,
                            loraID: stored.loraID, medium: stored.medium, loraName: stored.loraName
                        ))
                        nextOrder += 1
                    }
                    parent = hash
                }
            case .blockRemoved(let removed):
                for hash in removed.blockHashes { blocks[hash] = nil }
            case .allBlocksCleared:
                blocks = [:]
            }
        }
    }

    /// Every held block, first stored first.
    var snapshot: [KVEvent] { blocks.values.sorted { $0.order < $1.order }.map { .blockStored($0.event) } }
}
