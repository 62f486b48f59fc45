import CPatchworkKernels
import PatchworkCore

/// Buffers for one forward step of up to `maxTokens` rows, over sequences of up to `maxContext`
/// positions, allocated once.
public final class ForwardScratch {
    public let maxTokens: Int
    public let maxContext: Int
    public let maxLoRARank: Int
    let maxLogitRows: Int

    // [maxTokens, width] each.
    let x: UnsafeMutablePointer<Float>, xb: UnsafeMutablePointer<Float>
    /// Each token's q, k and v side by side: [maxTokens, qDim + 2 · kvDim].
    let qkv: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// Each token's gate and up activations side by side: [maxTokens, 2 · intermediate].
    let gateUp: UnsafeMutablePointer<Float>
    /// A prefilling sequence's attention scores for one head: [maxTokens, maxContext].
    let scores: UnsafeMutablePointer<Float>
    /// A prefilling sequence's keys and values gathered from its blocks: [maxContext, kvDim].
    let gatheredKeys: UnsafeMutablePointer<Float>, gatheredValues: UnsafeMutablePointer<Float>
    /// [maxLogitRows, vocabulary]
    let logits: UnsafeMutablePointer<Float>
    /// A product's input quantized to int8 for the packed kernels: up to
    /// [max(maxTokens, maxLogitRows), max(hidden, qDim, intermediate)].
    let activations: UnsafeMutablePointer<pw_qact>

    private let all: [UnsafeMutablePointer<Float>]

    public init(config: ModelConfig, maxTokens: Int, maxContext: Int, maxLoRARank: Int = 64, maxLogitRows: Int? = nil) {
        let d = config.dimensions
        self.maxTokens = maxTokens
        self.maxContext = maxContext
        self.maxLoRARank = maxLoRARank
        self.maxLogitRows = maxLogitRows ?? maxTokens
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        x = buffer(maxTokens * d.hidden)
        xb = buffer(maxTokens * max(d.hidden, config.qDim))
        qkv = buffer(maxTokens * (config.qDim + 2 * config.kvDim))
        attention = buffer(maxTokens * config.qDim)
        gateUp = buffer(maxTokens * 2 * d.intermediate)
        scores = buffer(maxTokens * maxContext)
        gatheredKeys = buffer(maxContext * config.kvDim)
        gatheredValues = buffer(maxContext * config.kvDim)
        logits = buffer(self.maxLogitRows * d.vocabulary)
        all = [x, xb, qkv, attention, gateUp, scores, gatheredKeys, gatheredValues, logits]
        activations = pw_qact_create(Int32(max(maxTokens, self.maxLogitRows) * max(d.hidden, config.qDim, d.intermediate)))
    }

    deinit {
        for p in all { p.deallocate() }
        pw_qact_destroy(activations)
    }
}

/// One sequence's part of a forward step.
public struct BatchEntry: Sendable {
    /// Tokens to compute now, at positions `start ..< start + tokens.count`.
    public var tokens: [Int]
    /// Positions before `start` are already in the cache.
    public var start: Int
    /// The sequence's blocks, covering every position up to `start + tokens.count`.
    public var blockTable: [Int]
    /// Index into the step's adapters; nil for the base model.
    public var adapter: Int?
    /// Whether to return the logits of the last token.
    public var wantsLogits: Bool

    public init(tokens: [Int], start: Int, blockTable: [Int], adapter: Int?, wantsLogits: Bool) {
        self.tokens = tokens
        self.start = start
        self.blockTable = blockTable
        self.adapter = adapter
        self.wantsLogits = wantsLogits
    }
}
