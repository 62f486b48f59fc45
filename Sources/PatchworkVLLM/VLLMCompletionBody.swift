import PatchworkCore

/// The body of a streamed `POST /v1/completions` to vLLM for one ``InferenceRequest``: the
/// prompt as token ids, our sampling parameters in vLLM's names, and the extensions that make
/// its stream carry what an ``InferenceChunk`` needs (token ids, log-probabilities by token id,
/// usage at the end).
public struct VLLMCompletionBody: Encodable, Sendable, Equatable {
    public struct StreamOptions: Encodable, Sendable, Equatable {
        var include_usage = true
    }

    var model: String
    var prompt: [Int]
    var max_tokens: Int
    var temperature: Float
    var top_p: Float
    /// vLLM's "all tokens" is -1; ours is 0 or less.
    var top_k: Int
    var min_p: Float
    var seed: UInt64?
    var presence_penalty: Float
    var frequency_penalty: Float
    var repetition_penalty: Float
    var stop: [String]?
    var stop_token_ids: [Int]?
    var ignore_eos: Bool
    /// Only when the client asked for log-probabilities (0: the chosen token's alone): vLLM's
    /// log-probabilities cost it compute and serialization on every token, 7% of its
    /// throughput on CPU when always asked for.
    var logprobs: Int?
    var return_token_ids = true
    /// Log-probability entries named `token_id:<id>` rather than by text, which is ambiguous.
    var return_tokens_as_token_ids = true
    var stream = true
    var stream_options = StreamOptions()

    /// - Parameter model: vLLM's name for the base model or the adapter to run.
    public init(_ request: InferenceRequest, model: String) {
        let s = request.sampling
        self.model = model
        prompt = request.promptIDs
        max_tokens = s.maxTokens
        temperature = s.temperature
        top_p = s.topP
        top_k = s.topK > 0 ? s.topK : -1
        min_p = s.minP
        seed = s.seed
        presence_penalty = s.presencePenalty
        frequency_penalty = s.frequencyPenalty
        repetition_penalty = s.repetitionPenalty
        stop = s.stop.isEmpty ? nil : s.stop
        stop_token_ids = s.stopTokenIDs.isEmpty ? nil : s.stopTokenIDs
        ignore_eos = s.ignoreEOS
        logprobs = s.topLogprobs
    }
}
