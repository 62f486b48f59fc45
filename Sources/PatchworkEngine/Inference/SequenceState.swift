import PatchworkCore
/// One sequence's state: its KV cache and the scratch buffers of the forward pass, allocated
/// once. Owned by one task; not shared.
public final class SequenceState {
    /// Positions the cache holds.
    public let capacity: Int
    /// Tokens already in the cache.
    public internal(set) var length = 0
    /// Most tokens one forward call takes.
    public let maxChunk: Int

    let layers: Int
    let kvDim: Int
    /// [layers, capacity, kvDim]
    let keys: UnsafeMutablePointer<Float>
    /// [layers, capacity, kvDim]
    let values: UnsafeMutablePointer<Float>

    // Scratch, [maxChunk, width] each.
    let x: UnsafeMutablePointer<Float>, xb: UnsafeMutablePointer<Float>
    /// [maxChunk, qDim + 2 · kvDim]: each token's q, k and v side by side.
    let qkv: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// [maxChunk, 2 · intermediate]: each token's gate and up activations side by side.
    let gateUp: UnsafeMutablePointer<Float>
    /// [maxChunk, capacity]: attention scores of one head.
    let scores: UnsafeMutablePointer<Float>
    /// [maxChunk, max LoRA rank]
    let loraScratch: UnsafeMutablePointer<Float>
    let loraCapacity: Int
    /// [maxChunk, vocabulary]
    let logits: UnsafeMutablePointer<Float>

    public init(config: ModelConfig, capacity: Int, maxChunk: Int = 256, maxLoRARank: Int = 64) {
        let d = config.dimensions
        self.capacity = capacity
        self.maxChunk = maxChunk
        layers = d.layers
        kvDim = config.kvDim
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        keys = buffer(d.layers * capacity * config.kvDim)
        values = buffer(d.layers * capacity * config.kvDim)
        x = buffer(maxChunk * d.hidden)
        xb = buffer(maxChunk * max(d.hidden, config.qDim))
        qkv = buffer(maxChunk * (config.qDim + 2 * config.kvDim))
        attention = buffer(maxChunk * config.qDim)
        gateUp = buffer(maxChunk * 2 * d.intermediate)
        // One head's scores for a chunk, or a whole query group's for one decoded token.
        scores = buffer(max(maxChunk, d.heads) * capacity)
        loraCapacity = maxLoRARank
        loraScratch = buffer(maxChunk * maxLoRARank)
        logits = buffer(maxChunk * d.vocabulary)
    }

    deinit {
        for p in [keys, values, x, xb, qkv, attention, gateUp, scores, loraScratch, logits] { p.deallocate() }
    }

    /// Forgets the cached tokens (the buffers stay).
    public func reset() { length = 0 }

    /// Bytes of the KV cache.
    public var kvBytes: Int { 2 * layers * capacity * kvDim * 4 }
}
