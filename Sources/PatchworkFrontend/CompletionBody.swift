import Foundation

/// A `/v1/chat/completions` or `/v1/completions` body as OpenAI's API defines it, decoded as
/// typed values. Fields the API has and Patchwork does not use are ignored, as OpenAI ignores
/// unknown ones; a field of the wrong type is an error that names it
/// (``CompletionBody/decode(_:)``).
struct CompletionBody: Decodable {
    var model: String?
    var messages: [Message]?
    var prompt: Prompt?
    var max_tokens: Integer?
    var max_completion_tokens: Integer?
    var temperature: Double?
    var top_p: Double?
    var top_k: Integer?
    var min_p: Double?
    var presence_penalty: Double?
    var frequency_penalty: Double?
    var repetition_penalty: Double?
    var seed: Integer?
    /// vLLM's extension: keep generating past the end-of-sequence token.
    var ignore_eos: Bool?
    var stop: Stop?
    var n: Integer?
    /// Chat: `true`/`false`; completions: the number of alternatives per token.
    var logprobs: Logprobs?
    var top_logprobs: Integer?
    var stream: Bool?
    var stream_options: StreamOptions?
    var echo: Bool?
    var user: String?

    /// An integer parameter. JSON has one number type: `1.5` must be refused naming the
    /// parameter, which JSONDecoder's own integer decoding does not do.
    struct Integer: Decodable {
        var value: Int

        init(from decoder: any Decoder) throws {
            let number = try decoder.singleValueContainer().decode(Double.self)
            guard number == number.rounded(), abs(number) < 9e15 else {
                throw DecodingError.typeMismatch(Int.self, .init(codingPath: decoder.codingPath, debugDescription: "not an integer"))
            }
            value = Int(number)
        }
    }

    struct Message: Decodable {
        var role: String
        var content: Content?
    }

    /// A message's content: a string, or parts (of which Patchwork serves text).
    enum Content: Decodable {
        case text(String)
        case parts([Part])

        struct Part: Decodable {
            var type: String
            var text: String?
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { self = .text(text); return }
            guard let parts = try? container.decode([Part].self) else {
                throw DecodingError.typeMismatch(Content.self, .init(codingPath: decoder.codingPath, debugDescription: "a string or an array of content parts"))
            }
            self = .parts(parts)
        }
    }

    /// `prompt`: a string, strings, token ids, or lists of token ids.
    enum Prompt: Decodable {
        case text(String)
        case texts([String])
        case tokens([Int])
        case tokenLists([[Int]])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { self = .text(text) }
            else if let texts = try? container.decode([String].self) { self = .texts(texts) }
            else if let ids = try? container.decode([Int].self) { self = .tokens(ids) }
            else if let lists = try? container.decode([[Int]].self) { self = .tokenLists(lists) }
            else {
                throw DecodingError.typeMismatch(Prompt.self, .init(
                    codingPath: decoder.codingPath, debugDescription: "a string, an array of strings, an array of token ids or an array of token-id arrays"
                ))
            }
        }
    }

    /// `stop`: a string or strings.
    enum Stop: Decodable {
        case one(String)
        case many([String])

        var strings: [String] {
            switch self {
            case .one(let s): [s]
            case .many(let list): list
            }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { self = .one(one); return }
            guard let many = try? container.decode([String].self) else {
                throw DecodingError.typeMismatch(Stop.self, .init(codingPath: decoder.codingPath, debugDescription: "a string or an array of strings"))
            }
            self = .many(many)
        }
    }

    /// `logprobs`: a boolean (chat) or a count (completions).
    enum Logprobs: Decodable {
        case flag(Bool)
        case count(Int)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) { self = .flag(flag); return }
            guard let count = try? container.decode(Integer.self).value else {
                throw DecodingError.typeMismatch(Logprobs.self, .init(codingPath: decoder.codingPath, debugDescription: "a boolean or an integer"))
            }
            self = .count(count)
        }
    }

    struct StreamOptions: Decodable {
        var include_usage: Bool?
    }

    /// Decodes a body; a malformed one is a 400 naming the parameter at fault, as OpenAI answers.
    static func decode(_ data: Data) throws(OpenAIError) -> CompletionBody {
        do {
            return try JSONDecoder().decode(CompletionBody.self, from: data)
        } catch let error as DecodingError {
            throw Self.describe(error)
        } catch {
            throw .invalidRequest("We could not parse the JSON body of your request. Expected a JSON object.")
        }
    }

    static func describe(_ error: DecodingError) -> OpenAIError {
        func param(_ path: [any CodingKey]) -> String? {
            guard !path.isEmpty else { return nil }
            return path.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            guard let name = param(context.codingPath) else {
                return .invalidRequest("We could not parse the JSON body of your request. Expected a JSON object.")
            }
            return .invalidRequest("'\(name)' must be \(expectation(type, context))", param: name)
        case .valueNotFound(_, let context), .keyNotFound(_, let context):
            var path = context.codingPath
            if case .keyNotFound(let key, _) = error { path.append(key) }
            let name = param(path) ?? "body"
            return .invalidRequest("'\(name)' is required", param: name)
        case .dataCorrupted(let context):
            guard let name = param(context.codingPath) else {
                return .invalidRequest("We could not parse the JSON body of your request: it is not valid JSON.")
            }
            return .invalidRequest("'\(name)' is invalid: \(context.debugDescription)", param: name)
        @unknown default:
            return .invalidRequest("We could not parse the JSON body of your request.")
        }
    }

    private static func expectation(_ type: Any.Type, _ context: DecodingError.Context) -> String {
        switch type {
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Prompt.Type, is Stop.Type, is Content.Type, is Logprobs.Type: return context.debugDescription
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "of another type"
        }
    }
}
