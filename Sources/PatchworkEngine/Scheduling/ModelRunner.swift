/// Runs the forward pass of one step: builds the batch from the scheduled chunks and returns
/// the logits of every chunk that reaches its sequence's last token.
public protocol ModelRunner {
    /// Logits per chunk (in `chunks`' order), nil for chunks in the middle of a prompt.
    func run(_ chunks: [ScheduledChunk]) -> [[Float]?]
}

/// The ``Transformer`` as the model runner: one forward pass over every scheduled token, with
/// the chunks that share an adapter placed together so each adapter costs one pair of thin
/// LoRA products (segmented, as Punica's SGMV).
public final class TransformerRunner: ModelRunner {
    public let transformer: Transformer
    let storage: PagedKVStorage
    let scratch: ForwardScratch

    public init(
        transformer: Transformer, blockSize: Int, blockCount: Int, maxBatchTokens: Int, maxSequences: Int, maxLoRARank: Int, kvCacheType: KVCacheType = .f32
    ) {
        self.transformer = transformer
        storage = PagedKVStorage(config: transformer.config, blockSize: blockSize, blockCount: blockCount, type: kvCacheType)
        let context = min(transformer.config.contextLength, blockCount * blockSize)
        scratch = ForwardScratch(config: transformer.config, maxTokens: maxBatchTokens, maxContext: context, maxLoRARank: maxLoRARank, maxLogitRows: maxSequences)
    }

    public var maxLoRARank: Int { scratch.maxLoRARank }

    public func run(_ chunks: [ScheduledChunk]) -> [[Float]?] {
        var adapters: [ResidentAdapter] = []
        func adapterIndex(_ adapter: ResidentAdapter?) -> Int? {
            guard let adapter else { return nil }
            if let i = adapters.firstIndex(where: { $0 === adapter }) { return i }
            adapters.append(adapter)
            return adapters.count - 1
        }
        let indices = chunks.map { adapterIndex($0.sequence.request.adapter) }
        let order = chunks.indices.sorted { (indices[$0] ?? -1, $0) < (indices[$1] ?? -1, $1) }
        let batch = order.map { i -> BatchEntry in
            let chunk = chunks[i]
            return BatchEntry(
                tokens: Array(chunk.tokens), start: chunk.start, blockTable: chunk.sequence.blocks!.blockIDs, adapter: indices[i],
                wantsLogits: chunk.completesSequence
            )
        }
        let logits = transformer.forward(batch: batch, adapters: adapters.map(\.weights), storage: storage, scratch: scratch)
        var result = [[Float]?](repeating: nil, count: chunks.count)
        for (position, i) in order.enumerated() where batch[position].wantsLogits { result[i] = logits[position] }
        return result
    }
}
