/// How to choose each next token, and when to stop. Defaults follow OpenAI's API.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 picks the most likely token (greedy).
    public var temperature: Float = 1
    /// Keep the `topK` most likely tokens; 0 or less keeps all.
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probabilities reach `topP`.
    public var topP: Float = 1
    /// Drop tokens less likely than `minP` times the most likely one.
    public var minP: Float = 0
    /// Same seed, same tokens.
    public var seed: UInt64?
    /// Subtracted once from the logit of every token already generated (OpenAI).
    public var presencePenalty: Float = 0
    /// Subtracted per occurrence from the logit of every token already generated (OpenAI).
    public var frequencyPenalty: Float = 0
    /// Divides positive and multiplies negative logits of tokens in the prompt or output (Hugging Face).
    public var repetitionPenalty: Float = 1
    public var maxTokens: Int = 16
    /// Generation stops before any of these strings; they are not returned.
    public var stop: [String] = []
    /// Generation stops at these tokens (besides the model's end-of-sequence token).
    public var stopTokenIDs: [Int] = []
    /// Keep generating past end-of-sequence tokens (benchmarks).
    public var ignoreEOS = false
    /// Alternatives to report with each token's log-probability; nil reports none.
    public var topLogprobs: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, minP, seed, presencePenalty, frequencyPenalty, repetitionPenalty, maxTokens, stop
        case stopTokenIDs, ignoreEOS, topLogprobs
    }

    /// Missing fields take their defaults, so clients send only what they set.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SamplingParameters()
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? d.temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? d.topP
        minP = try c.decodeIfPresent(Float.self, forKey: .minP) ?? d.minP
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        presencePenalty = try c.decodeIfPresent(Float.self, forKey: .presencePenalty) ?? d.presencePenalty
        frequencyPenalty = try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty) ?? d.frequencyPenalty
        repetitionPenalty = try c.decodeIfPresent(Float.self, forKey: .repetitionPenalty) ?? d.repetitionPenalty
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? d.maxTokens
        stop = try c.decodeIfPresent([String].self, forKey: .stop) ?? d.stop
        stopTokenIDs = try c.decodeIfPresent([Int].self, forKey: .stopTokenIDs) ?? d.stopTokenIDs
        ignoreEOS = try c.decodeIfPresent(Bool.self, forKey: .ignoreEOS) ?? d.ignoreEOS
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
    }

    /// Every parameter that is out of range, described; empty when all are valid.
    public func problems(vocabulary: Int) -> [String] {
        var problems: [String] = []
        if !(temperature >= 0 && temperature <= 2) { problems.append("temperature must be in [0, 2], got \(temperature)") }
        if !(topP > 0 && topP <= 1) { problems.append("top_p must be in (0, 1], got \(topP)") }
        if !(minP >= 0 && minP <= 1) { problems.append("min_p must be in [0, 1], got \(minP)") }
        if !(presencePenalty >= -2 && presencePenalty <= 2) { problems.append("presence_penalty must be in [-2, 2], got \(presencePenalty)") }
        if !(frequencyPenalty >= -2 && frequencyPenalty <= 2) { problems.append("frequency_penalty must be in [-2, 2], got \(frequencyPenalty)") }
        if !(repetitionPenalty > 0 && repetitionPenalty.isFinite) { problems.append("repetition_penalty must be positive, got \(repetitionPenalty)") }
        if maxTokens < 1 { problems.append("max_tokens must be at least 1, got \(maxTokens)") }
        if let k = topLogprobs, !(0...20).contains(k) { problems.append("top_logprobs must be in [0, 20], got \(k)") }
        if stop.count > 16 || stop.contains(where: \.isEmpty) { problems.append("stop takes at most 16 non-empty strings") }
        if let bad = stopTokenIDs.first(where: { $0 < 0 || $0 >= vocabulary }) { problems.append("stop token id \(bad) is outside the vocabulary (\(vocabulary))") }
        return problems
    }
}
