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
        guard let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidRequest("We could not parse the JSON body of your request. Expected a JSON object.")
        }
        guard let model = body["model"] as? String, !model.isEmpty else { throw .invalidRequest("you must provide a model parameter", param: "model") }
        let input: Input
        if chat {
            guard let messages = body["messages"] as? [[String: Any]], !messages.isEmpty else {
                throw .invalidRequest("'messages' must be a non-empty array", param: "messages")
            }
            input = .chat(try messages.enumerated().map { index, message throws(OpenAIError) in
                guard let role = message["role"] as? String, ["system", "developer", "user", "assistant", "tool"].contains(role) else {
                    throw .invalidRequest("messages[\(index)].role must be system, user, assistant or tool", param: "messages[\(index)].role")
                }
                return ChatMessage(role: role == "developer" ? "system" : role, content: try text(of: message["content"], param: "messages[\(index)].content"))
            })
        } else {
            input = .prompts(try prompts(body["prompt"]))
        }
        var sampling = SamplingParameters()
        func number(_ key: String) throws(OpenAIError) -> Double? {
            guard let value = body[key], !(value is NSNull) else { return nil }
            guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { throw .invalidRequest("'\(key)' must be a number", param: key) }
            return n.doubleValue
        }
        func integer(_ key: String) throws(OpenAIError) -> Int? {
            guard let value = try number(key) else { return nil }
            guard value == value.rounded(), abs(value) < 1e15 else { throw .invalidRequest("'\(key)' must be an integer", param: key) }
            return Int(value)
        }
        let maxCompletionTokens = try integer("max_completion_tokens"), maxTokens = try integer("max_tokens")
        sampling.maxTokens = maxCompletionTokens ?? maxTokens ?? 16
        sampling.temperature = Float(try number("temperature") ?? 1)
        sampling.topP = Float(try number("top_p") ?? 1)
        sampling.topK = try integer("top_k") ?? 0
        sampling.minP = Float(try number("min_p") ?? 0)
        sampling.presencePenalty = Float(try number("presence_penalty") ?? 0)
        sampling.frequencyPenalty = Float(try number("frequency_penalty") ?? 0)
        sampling.repetitionPenalty = Float(try number("repetition_penalty") ?? 1)
        if let seed = try integer("seed") { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        // vLLM's extension: keep generating past the end-of-sequence token.
        sampling.ignoreEOS = body["ignore_eos"] as? Bool ?? false
        switch body["stop"] {
        case nil, is NSNull: break
        case let stop as String: sampling.stop = [stop]
        case let stops as [String]: sampling.stop = stops
        default: throw .invalidRequest("'stop' must be a string or an array of strings", param: "stop")
        }
        let n = try integer("n") ?? 1
        guard (1...16).contains(n) else { throw .invalidRequest("'n' must be between 1 and 16", param: "n") }
        if case .prompts(let prompts) = input, prompts.count * n > maxChoices {
            throw .invalidRequest("\(prompts.count) prompts × n = \(n) asks for \(prompts.count * n) choices; at most \(maxChoices) per request", param: "prompt")
        }
        var logprobs = false, topLogprobs = 0
        if chat {
            logprobs = body["logprobs"] as? Bool ?? false
            topLogprobs = try integer("top_logprobs") ?? 0
            if topLogprobs > 0 && !logprobs { throw .invalidRequest("'top_logprobs' needs 'logprobs' set to true", param: "top_logprobs") }
        } else if let k = try integer("logprobs") {
            logprobs = true
            topLogprobs = k
        }
        guard (0...20).contains(topLogprobs) else { throw .invalidRequest("logprobs alternatives must be between 0 and 20", param: chat ? "top_logprobs" : "logprobs") }
        if logprobs { sampling.topLogprobs = topLogprobs }
        let problems = sampling.problems(vocabulary: Int.max)
        if let first = problems.first { throw .invalidRequest(first, param: first.components(separatedBy: " ").first) }
        let stream = try flag("stream") ?? false
        var includeUsage = false
        if let options = body["stream_options"], !(options is NSNull) {
            guard stream else { throw .invalidRequest("'stream_options' is only allowed when 'stream' is true", param: "stream_options") }
            guard let options = options as? [String: Any] else { throw .invalidRequest("'stream_options' must be an object", param: "stream_options") }
            includeUsage = options["include_usage"] as? Bool ?? false
        }
        let echo = chat ? false : try flag("echo") ?? false
        // Echoed prompts would need their own log-probabilities, which the engine does not compute.
        if echo && logprobs { throw .invalidRequest("'echo' together with 'logprobs' (prompt log-probabilities) is not supported", param: "echo") }
        return CompletionRequest(
            model: model, input: input, sampling: sampling, n: n, stream: stream,
            includeUsage: includeUsage, logprobs: logprobs, topLogprobs: topLogprobs, echo: echo,
            user: body["user"] as? String
        )

        func flag(_ key: String) throws(OpenAIError) -> Bool? {
            guard let value = body[key], !(value is NSNull) else { return nil }
            guard let n = value as? NSNumber, String(cString: n.objCType) == "c" else { throw .invalidRequest("'\(key)' must be a boolean", param: key) }
            return n.boolValue
        }
    }

    /// `prompt` of a text completion: a string, an array of token ids, an array of strings, or an
    /// array of token-id arrays (one choice set per prompt, as OpenAI answers them).
    private static func prompts(_ value: Any?) throws(OpenAIError) -> [Prompt] {
        let shape = "'prompt' must be a string, an array of strings, an array of token ids or an array of token-id arrays"
        func tokenIDs(_ items: [Any]) -> [Int]? {
            var ids: [Int] = []
            for item in items {
                guard let n = item as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else { return nil }
                ids.append(n.intValue)
            }
            return ids
        }
        switch value {
        case let text as String:
            return [.text(text)]
        case let items as [Any]:
            guard !items.isEmpty else { throw .invalidRequest("'prompt' must not be empty", param: "prompt") }
            if let texts = items as? [String] { return texts.map(Prompt.text) }
            if let ids = tokenIDs(items) { return [.tokens(ids)] }
            var prompts: [Prompt] = []
            for (index, item) in items.enumerated() {
                guard let list = item as? [Any], let ids = tokenIDs(list) else { throw .invalidRequest(shape, param: "prompt") }
                guard !ids.isEmpty else { throw .invalidRequest("prompt[\(index)] is empty", param: "prompt") }
                prompts.append(.tokens(ids))
            }
            return prompts
        default:
            throw .invalidRequest(shape, param: "prompt")
        }
    }

    /// A message's content: a string, or text parts.
    private static func text(of content: Any?, param: String) throws(OpenAIError) -> String {
        switch content {
        case let text as String: return text
        case let parts as [[String: Any]]:
            var text = ""
            for part in parts {
                guard part["type"] as? String == "text", let piece = part["text"] as? String else {
                    throw .invalidRequest("only text content parts are supported", param: param)
                }
                text += piece
            }
            return text
        case nil, is NSNull: return ""
        default: throw .invalidRequest("content must be a string or an array of text parts", param: param)
        }
    }
}
