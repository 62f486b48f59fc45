import PatchworkCore

/// One sequence run on its own (``Generator``, `generate`): a private paged cache whose block
/// table is simply every block in order, and the scratch of the forward pass.
public final class SequenceState {
    public let capacity: Int
    /// Tokens already in the cache.
    public internal(set) var length = 0
    let storage: PagedKVStorage
    let scratch: ForwardScratch
    let blockTable: [Int]

    /// - Parameter maxLogitRows: rows of logits one forward call returns at most: 1 (the last
    ///   token's) unless a caller asks ``Transformer/forward(_:state:adapter:allLogits:)`` for
    ///   every row of a chunk (a vocabulary-wide row each: 192 KB for SmolLM2).
    public init(
        config: ModelConfig, capacity: Int, maxChunk: Int = 256, maxLoRARank: Int = 64, blockSize: Int = KVBlock.defaultSize, maxLogitRows: Int = 1,
        kvCacheType: KVCacheType = .f32
    ) {
        self.capacity = capacity
        let blocks = (capacity + blockSize - 1) / blockSize
        storage = PagedKVStorage(config: config, blockSize: blockSize, blockCount: max(blocks, 1), type: kvCacheType)
        blockTable = Array(0..<max(blocks, 1))
        scratch = ForwardScratch(config: config, maxTokens: maxChunk, maxContext: blocks * blockSize, maxLoRARank: maxLoRARank, maxLogitRows: maxLogitRows)
    }

    public var maxChunk: Int { scratch.maxTokens }
}
