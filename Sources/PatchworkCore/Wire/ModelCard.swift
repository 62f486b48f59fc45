/// What a worker serves: its base model and how it is configured, sent to routers on
/// registration and passed on to frontends in the ``ClusterView``.
public struct ModelCard: Codable, Sendable, Equatable {
    /// The name clients use as `model` for the base model.
    public var servedModelName: ModelName
    /// The architecture as the model file names it (`llama`, `qwen2`, `qwen3`).
    public var architecture: String
    /// Longest sequence (prompt and completion) the worker accepts, in tokens.
    public var contextLength: Int
    /// Tokens per KV-cache block; KV events and the router's index use the same size.
    public var kvBlockSize: Int
    public var dimensions: ModelDimensions
    public var lora: LoRACapabilities
    /// Whether the model ships a chat template (the frontend fetches it with the tokenizer).
    public var hasChatTemplate: Bool

    public init(
        servedModelName: ModelName, architecture: String, contextLength: Int, kvBlockSize: Int,
        dimensions: ModelDimensions, lora: LoRACapabilities, hasChatTemplate: Bool
    ) {
        self.servedModelName = servedModelName
        self.architecture = architecture
        self.contextLength = contextLength
        self.kvBlockSize = kvBlockSize
        self.dimensions = dimensions
        self.lora = lora
        self.hasChatTemplate = hasChatTemplate
    }
}

/// The shape of a transformer, enough to check that an adapter fits it.
public struct ModelDimensions: Codable, Sendable, Equatable {
    public var layers: Int
    /// Width of the residual stream (`hidden_size`).
    public var hidden: Int
    /// Width of the feed-forward layer (`intermediate_size`).
    public var intermediate: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var vocabulary: Int

    public init(layers: Int, hidden: Int, intermediate: Int, heads: Int, kvHeads: Int, headDim: Int, vocabulary: Int) {
        self.layers = layers
        self.hidden = hidden
        self.intermediate = intermediate
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.vocabulary = vocabulary
    }
}

/// How a worker serves adapters (`--enable-lora`, `--max-loras`, `--max-lora-rank`).
public struct LoRACapabilities: Codable, Sendable, Equatable {
    public var enabled: Bool
    public var maxLoras: Int
    public var maxRank: Int

    public init(enabled: Bool, maxLoras: Int, maxRank: Int) {
        self.enabled = enabled
        self.maxLoras = maxLoras
        self.maxRank = maxRank
    }
}
