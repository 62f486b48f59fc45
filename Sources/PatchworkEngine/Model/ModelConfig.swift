import PatchworkCore

/// Everything the forward pass needs to know about a model's shape and arithmetic.
public struct ModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable { case llama, qwen2, qwen3 }

    public var architecture: Architecture
    public var dimensions: ModelDimensions
    public var contextLength: Int
    public var ropeTheta: Float
    public var rmsNormEpsilon: Float
    /// The output projection is the token embedding (no separate `lm_head`).
    public var tiedEmbeddings: Bool
    /// q, k and v projections have biases (qwen2).
    public var attentionBias: Bool
    /// Per-head RMSNorm of queries and keys before RoPE (qwen3).
    public var queryKeyNorm: Bool

    public var qDim: Int { dimensions.heads * dimensions.headDim }
    public var kvDim: Int { dimensions.kvHeads * dimensions.headDim }
}
