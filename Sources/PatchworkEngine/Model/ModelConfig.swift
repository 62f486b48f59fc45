import PatchworkCore

/// Everything the forward pass needs to know about a model's shape and arithmetic.
public struct ModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable, CaseIterable { case llama, qwen2, qwen3, gemma3 }

    /// The gated MLP's activation of the gate.
    public enum Activation: Sendable, Equatable {
        /// `silu(gate) · up` (llama, qwen).
        case silu
        /// `gelu_tanh(gate) · up` (gemma).
        case geluTanh
    }

    /// How one layer attends: how far back, and RoPE's base.
    public struct LayerAttention: Sendable, Equatable {
        /// Positions a query sees, itself included (gemma's local layers: 512); nil: all.
        public var window: Int?
        public var ropeTheta: Float
        public init(window: Int?, ropeTheta: Float) {
            self.window = window
            self.ropeTheta = ropeTheta
        }

        /// The first position a query sees when it is the last of `positions` positions.
        public func firstVisible(of positions: Int) -> Int { window.map { max(0, positions - $0) } ?? 0 }
    }

    public var architecture: Architecture
    public var dimensions: ModelDimensions
    public var contextLength: Int
    public var ropeTheta: Float
    public var rmsNormEpsilon: Float
    /// The output projection is the token embedding (no separate `lm_head`).
    public var tiedEmbeddings: Bool
    /// q, k and v projections have biases (qwen2).
    public var attentionBias: Bool
    /// Per-head RMSNorm of queries and keys before RoPE (qwen3, gemma3).
    public var queryKeyNorm: Bool
    public var activation: Activation = .silu
    /// Multiplies the token embeddings (gemma: √hidden, in f32).
    public var embeddingScale: Float?
    /// RMSNorm of the attention's and the MLP's outputs before each joins the residual stream
    /// (gemma3: four norms per layer).
    public var postNorms = false
    /// Per layer, when layers differ (gemma3's sliding-window and global layers); nil: every
    /// layer sees all positions with ``ropeTheta``.
    public var layerAttention: [LayerAttention]?

    public var qDim: Int { dimensions.heads * dimensions.headDim }
    public var kvDim: Int { dimensions.kvHeads * dimensions.headDim }

    /// Layer `l`'s attention.
    public func attention(layer l: Int) -> LayerAttention { layerAttention?[l] ?? LayerAttention(window: nil, ropeTheta: ropeTheta) }

    /// gemma3 as llama.cpp runs it: every sixth layer (5, 11, …) global with the file's RoPE
    /// base, the others a window of `window` positions with base 10 000 (llama.cpp's constant;
    /// the GGUF does not carry it).
    public static func gemma3Layers(count: Int, window: Int, globalTheta: Float) -> [LayerAttention] {
        (0..<count).map { l in l % 6 < 5 ? LayerAttention(window: window, ropeTheta: 10_000) : LayerAttention(window: nil, ropeTheta: globalTheta) }
    }
}
