import Foundation
import PatchworkCore
import PatchworkTokenizer

/// A `/v1/chat/completions` or `/v1/completions` body, checked, in one form.
struct CompletionRequest: Sendable {
    enum Input: Sendable {
        case chat([ChatMessage])
        /// Text completions: one or more prompts, each answered by `n` choices.
        case prompts([Prompt])
    }

    enum Prompt: Sendable {
        case text(String)
        case tokens([Int])
    }

    /// Most choices (prompts × `n`) one request may ask for.
    static let maxChoices = 128

    var model: String
    var input: Input
    var sampling: SamplingParameters
    var n: Int
    var stream: Bool
    var includeUsage: Bool
    /// Chat: `logprobs: true`; completions: `logprobs: N` (then `topLogprobs` is N).
    var logprobs: Bool
    var topLogprobs: Int
    /// Text completions: each choice's text starts with its prompt.
    var echo: Bool
    var user: String?

    var isChat: Bool { if case .chat = input { return true } else { return false } }

    var promptCount: Int {
        switch input {
        case .chat: return 1
        case .prompts(let prompts): return prompts.count
        }
    }

    /// Choices in the response: `n` per prompt, prompt by prompt (choice `i` answers prompt `i / n`).
    var choiceCount: Int { promptCount * n }

    /// Parses a body; every problem is a 400 naming the parameter.
    static func parse(_ data: Data, chat: Bool) throws(OpenAIError) -> CompletionRequest {
        try CompletionRequest(CompletionBody.decode(data), chat: chat)
    }
}

extension CompletionRequest {
    /// Checks a decoded body: what OpenAI refuses is refused here, with the parameter named.
    init(_ body: CompletionBody, chat: Bool) throws(OpenAIError) {
        guard let model = body.model, !model.isEmpty else { throw .invalidRequest("you must provide a model parameter", param: "model") }
        let input: Input
        if chat {
            guard let messages = body.messages, !messages.isEmpty else {
                throw .invalidRequest("'messages' must be a non-empty array", param: "messages")
            }
            input = .chat(try messages.enumerated().map { index, message throws(OpenAIError) in
                guard ["system", "developer", "user", "assistant", "tool"].contains(message.role) else {
                    throw .invalidRequest("messages[\(index)].role must be system, user, assistant or tool", param: "messages[\(index)].role")
                }
                return ChatMessage(role: message.role == "developer" ? "system" : message.role, content: try Self.text(of: message.content, param: "messages[\(index)].content"))
            })
        } else {
            input = .prompts(try Self.prompts(body.prompt))
        }
        var sampling = SamplingParameters()
        // Each one given must be valid, even the one that yields to the other.
        for (name, value) in [("max_tokens", body.max_tokens), ("max_completion_tokens", body.max_completion_tokens)] {
            if let value, value.value < 1 { throw .invalidRequest("'\(name)' must be at least 1, got \(value.value)", param: name) }
        }
        sampling.maxTokens = body.max_completion_tokens?.value ?? body.max_tokens?.value ?? 16
        sampling.temperature = Self.float(body.temperature ?? 1)
        sampling.topP = Self.float(body.top_p ?? 1)
        sampling.topK = body.top_k?.value ?? 0
        sampling.minP = Self.float(body.min_p ?? 0)
        sampling.presencePenalty = Self.float(body.presence_penalty ?? 0)
        sampling.frequencyPenalty = Self.float(body.frequency_penalty ?? 0)
        sampling.repetitionPenalty = Self.float(body.repetition_penalty ?? 1)
        if let seed = body.seed?.value { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        sampling.ignoreEOS = body.ignore_eos ?? false
        sampling.stop = body.stop?.strings ?? []
        let n = body.n?.value ?? 1
        guard (1...16).contains(n) else { throw .invalidRequest("'n' must be between 1 and 16", param: "n") }
        if case .prompts(let prompts) = input, prompts.count * n > Self.maxChoices {
            throw .invalidRequest("\(prompts.count) prompts × n = \(n) asks for \(prompts.count * n) choices; at most \(Self.maxChoices) per request", param: "prompt")
        }
        var logprobs = false, topLogprobs = 0
        if chat {
            switch body.logprobs {
            case nil, .flag(false): break
            case .flag(true): logprobs = true
            case .count: throw .invalidRequest("'logprobs' must be a boolean", param: "logprobs")
            }
            topLogprobs = body.top_logprobs?.value ?? 0
            if topLogprobs > 0 && !logprobs { throw .invalidRequest("'top_logprobs' needs 'logprobs' set to true", param: "top_logprobs") }
        } else {
            switch body.logprobs {
            case nil: break
            case .count(let k):
                logprobs = true
                topLogprobs = k
            case .flag: throw .invalidRequest("'logprobs' must be an integer", param: "logprobs")
            }
        }
        guard (0...20).contains(topLogprobs) else { throw .invalidRequest("logprobs alternatives must be between 0 and 20", param: chat ? "top_logprobs" : "logprobs") }
        if logprobs { sampling.topLogprobs = topLogprobs }
        let problems = sampling.problems(vocabulary: Int.max)
        if let first = problems.first { throw .invalidRequest(first, param: first.components(separatedBy: " ").first) }
        let stream = body.stream ?? false
        if body.stream_options != nil && !stream {
            throw .invalidRequest("'stream_options' is only allowed when 'stream' is true", param: "stream_options")
        }
        let echo = chat ? false : body.echo ?? false
        // Echoed prompts would need their own log-probabilities, which the engine does not compute.
        if echo && logprobs { throw .invalidRequest("'echo' together with 'logprobs' (prompt log-probabilities) is not supported", param: "echo") }
        self.init(
            model: model, input: input, sampling: sampling, n: n, stream: stream,
            includeUsage: body.stream_options?.include_usage ?? false, logprobs: logprobs, topLogprobs: topLogprobs, echo: echo,
            user: body.user
        )
    }

    /// `prompt` of a text completion, one entry per prompt (each answered by `n` choices).
    /// A JSON number as a sampling parameter: a positive (or negative) one too small for a
    /// Float stays the smallest of its sign rather than becoming 0, which a bound such as
    /// `top_p > 0` would then refuse.
    static func float(_ value: Double) -> Float {
        let single = Float(value)
        guard single == 0, value != 0 else { return single }
        return value > 0 ? .leastNonzeroMagnitude : -.leastNonzeroMagnitude
    }

    private static func prompts(_ prompt: CompletionBody.Prompt?) throws(OpenAIError) -> [Prompt] {
        switch prompt {
        case nil:
            throw .invalidRequest("you must provide a prompt", param: "prompt")
        case .text(let text):
            return [.text(text)]
        case .texts(let texts):
            guard !texts.isEmpty else { throw .invalidRequest("'prompt' must not be empty", param: "prompt") }
            return texts.map(Prompt.text)
        case .tokens(let ids):
            guard !ids.isEmpty else { throw .invalidRequest("'prompt' must not be empty", param: "prompt") }
            return [.tokens(ids)]
        case .tokenLists(let lists):
            guard !lists.isEmpty else { throw .invalidRequest("'prompt' must not be empty", param: "prompt") }
            if let empty = lists.firstIndex(where: \.isEmpty) { throw .invalidRequest("prompt[\(empty)] is empty", param: "prompt") }
            return lists.map(Prompt.tokens)
        }
    }

    /// A message's content: a string, or text parts.
    private static func text(of content: CompletionBody.Content?, param: String) throws(OpenAIError) -> String {
        switch content {
        case nil: return ""
        case .text(let text): return text
        case .parts(let parts):
            var text = ""
            for part in parts {
                guard part.type == "text", let piece = part.text else { throw .invalidRequest("only text content parts are supported", param: param) }
                text += piece
            }
            return text
        }
    }
}
