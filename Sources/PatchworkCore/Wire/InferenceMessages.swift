/// A client asks a worker to generate: token ids in, a stream of ``InferenceChunk``s out.
public struct InferenceRequest: Codable, Sendable, Equatable {
    /// Assigned by the frontend; every hop logs it, and chunks and cancels carry it.
    public var requestID: RequestID
    public var promptIDs: [Int]
    /// A loaded adapter's name; nil runs the base model. A malformed name fails decoding.
    public var adapter: AdapterName?
    public var sampling: SamplingParameters
    /// When the worker may lack `adapter`: load it from this URI first (the router chose a
    /// worker without it because no live worker had it).
    public var adapterSource: String?

    public init(requestID: RequestID, promptIDs: [Int], adapter: AdapterName?, sampling: SamplingParameters, adapterSource: String? = nil) {
        self.requestID = requestID
        self.promptIDs = promptIDs
        self.adapter = adapter
        self.sampling = sampling
        self.adapterSource = adapterSource
    }
}

/// Part of a request's output: new tokens (one per engine step), and at the end the finish
/// reason and usage.
public struct InferenceChunk: Codable, Sendable, Equatable {
    public struct Token: Codable, Sendable, Equatable {
        public var id: Int
        /// The text this token completes (UTF-8 is never split across chunks).
        public var text: String
        public var logprob: Float
        /// The most likely alternatives, when asked for: `[id, logprob]` pairs.
        public var top: [TopLogprob]

        public init(id: Int, text: String, logprob: Float, top: [TopLogprob]) {
            self.id = id
            self.text = text
            self.logprob = logprob
            self.top = top
        }
    }

    public struct TopLogprob: Codable, Sendable, Equatable {
        public var id: Int
        public var logprob: Float
        public init(id: Int, logprob: Float) {
            self.id = id
            self.logprob = logprob
        }
    }

    public struct Usage: Codable, Sendable, Equatable {
        public var promptTokens: Int
        public var completionTokens: Int
        /// Prompt tokens found in the prefix cache.
        public var cachedPromptTokens: Int

        public init(promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int) {
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.cachedPromptTokens = cachedPromptTokens
        }
    }

    public var requestID: RequestID
    public var tokens: [Token]
    /// `stop` or `length` on the last chunk; nil before.
    public var finishReason: String?
    /// On the last chunk.
    public var usage: Usage?
    /// On the last chunk: text that belongs to no token of its own, held back while it could
    /// have been the start of a stop string.
    public var trailingText: String?

    public init(requestID: RequestID, tokens: [Token], finishReason: String?, usage: Usage?, trailingText: String? = nil) {
        self.requestID = requestID
        self.tokens = tokens
        self.finishReason = finishReason
        self.usage = usage
        self.trailingText = trailingText
    }

    /// The text this chunk adds to the completion.
    public var text: String { tokens.map(\.text).joined() + (trailingText ?? "") }
}
