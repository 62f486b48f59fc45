import Foundation
import PatchworkCore
import PatchworkTokenizer

/// OpenAI's response bodies for chat and text completions, whole and streamed, as typed values.
/// Fields OpenAI sends as `null` (`finish_reason`, `logprobs`, a chunk's `usage`) are encoded as
/// null, not left out; fields it leaves out are optional here.
enum CompletionResponses {
    /// One choice's output so far.
    struct Choice {
        var text = ""
        var tokens: [InferenceChunk.Token] = []
        var finishReason: String?
        var usage: InferenceChunk.Usage?
    }

    struct Header {
        var id: RequestID
        var created: Int
        var model: String
        static let fingerprint = "fp_patchwork"
    }

    /// A response or chunk: `chat.completion`, `chat.completion.chunk` or `text_completion`.
    struct Body: Encodable {
        var id: String
        var object: String
        var created: Int
        var model: String
        var system_fingerprint = Header.fingerprint
        var choices: [ChoiceBody]
        /// Absent from chunks unless `stream_options.include_usage`; then null until the last.
        var usage: Nullable<Usage>?

        init(_ header: Header, object: String, choices: [ChoiceBody], usage: Nullable<Usage>?) {
            id = header.id.rawValue
            self.object = object
            created = header.created
            model = header.model
            self.choices = choices
            self.usage = usage
        }
    }

    struct ChoiceBody: Encodable {
        var index: Int
        var finish_reason: Nullable<String>
        /// Chat, whole response.
        var message: Message?
        /// Chat, streamed.
        var delta: Delta?
        /// Text completions.
        var text: String?
        var logprobs: Nullable<Logprobs>
    }

    struct Message: Encodable {
        var role = "assistant"
        var content: String
    }

    struct Delta: Encodable {
        var role: String?
        var content: String?
    }

    struct Usage: Encodable {
        struct Details: Encodable { var cached_tokens: Int }
        var prompt_tokens: Int
        var completion_tokens: Int
        var total_tokens: Int
        var prompt_tokens_details: Details

        init(prompt: Int, completion: Int, cached: Int) {
            prompt_tokens = prompt
            completion_tokens = completion
            total_tokens = prompt + completion
            prompt_tokens_details = Details(cached_tokens: cached)
        }
    }

    /// Chat's `{"content": [...]}` or text completions' parallel lists.
    enum Logprobs: Encodable {
        struct Entry: Encodable {
            var token: String
            var logprob: Double
            var bytes: [Int]
            var top_logprobs: [Entry]?
        }
        struct TextForm: Encodable {
            var tokens: [String]
            var token_logprobs: [Double]
            var top_logprobs: [[String: Double]]
            var text_offset: [Int]
        }
        case chat(content: [Entry])
        case text(TextForm)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .chat(let content):
                enum Keys: String, CodingKey { case content }
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(content, forKey: .content)
            case .text(let form):
                try form.encode(to: encoder)
            }
        }
    }

    /// OpenAI's stand-in for minus infinity (JSON has none).
    static func finite(_ logprob: Float) -> Double { logprob.isFinite ? Double(logprob) : -9999 }

    static func chatLogprobs(_ tokens: [InferenceChunk.Token], tokenizer: Tokenizer) -> Logprobs {
        func entry(_ id: Int, _ logprob: Float) -> Logprobs.Entry {
            Logprobs.Entry(token: tokenizer.decode([id]), logprob: finite(logprob), bytes: tokenizer.bytes(of: id).map(Int.init))
        }
        return .chat(content: tokens.map { t in
            var e = entry(t.id, t.logprob)
            e.top_logprobs = t.top.map { entry($0.id, $0.logprob) }
            return e
        })
    }

    static func completionLogprobs(_ tokens: [InferenceChunk.Token], offset: Int, tokenizer: Tokenizer) -> Logprobs {
        var textOffset: [Int] = [], position = offset
        for t in tokens {
            textOffset.append(position)
            position += t.text.utf16.count
        }
        return .text(Logprobs.TextForm(
            tokens: tokens.map { tokenizer.decode([$0.id]) },
            token_logprobs: tokens.map { finite($0.logprob) },
            top_logprobs: tokens.map { t in Dictionary(t.top.map { (tokenizer.decode([$0.id]), finite($0.logprob)) }, uniquingKeysWith: max) },
            text_offset: textOffset
        ))
    }

    /// A whole response; choices come `perPrompt` to a prompt, and each prompt counts once.
    static func complete(_ header: Header, choices: [Choice], perPrompt: Int, chat: Bool, logprobs: Bool, tokenizer: Tokenizer) -> Body {
        let firsts = stride(from: 0, to: choices.count, by: max(1, perPrompt)).map { choices[$0] }
        let prompt = firsts.reduce(0) { $0 + ($1.usage?.promptTokens ?? 0) }
        let cached = firsts.reduce(0) { $0 + ($1.usage?.cachedPromptTokens ?? 0) }
        let completion = choices.reduce(0) { $0 + ($1.usage?.completionTokens ?? $1.tokens.count) }
        let bodies = choices.enumerated().map { i, c in
            chat
                ? ChoiceBody(
                    index: i, finish_reason: Nullable(c.finishReason), message: Message(content: c.text),
                    logprobs: Nullable(logprobs ? chatLogprobs(c.tokens, tokenizer: tokenizer) : nil)
                )
                : ChoiceBody(
                    index: i, finish_reason: Nullable(c.finishReason), text: c.text,
                    logprobs: Nullable(logprobs ? completionLogprobs(c.tokens, offset: 0, tokenizer: tokenizer) : nil)
                )
        }
        return Body(
            header, object: chat ? "chat.completion" : "text_completion", choices: bodies,
            usage: Nullable(Usage(prompt: prompt, completion: completion, cached: cached))
        )
    }

    /// One streamed chunk for choice `index`.
    static func chunk(
        _ header: Header, index: Int, chat: Bool, role: Bool = false, text: String?, tokens: [InferenceChunk.Token], finishReason: String?,
        logprobs: Bool, offset: Int, tokenizer: Tokenizer, includeUsage: Bool
    ) -> Body {
        let wantsLogprobs = logprobs && !tokens.isEmpty
        let choice = chat
            ? ChoiceBody(
                index: index, finish_reason: Nullable(finishReason), delta: Delta(role: role ? "assistant" : nil, content: text),
                logprobs: Nullable(wantsLogprobs ? chatLogprobs(tokens, tokenizer: tokenizer) : nil)
            )
            : ChoiceBody(
                index: index, finish_reason: Nullable(finishReason), text: text ?? "",
                logprobs: Nullable(wantsLogprobs ? completionLogprobs(tokens, offset: offset, tokenizer: tokenizer) : nil)
            )
        return Body(header, object: chat ? "chat.completion.chunk" : "text_completion", choices: [choice], usage: includeUsage ? Nullable(nil) : nil)
    }

    /// The last chunk when `stream_options.include_usage`: no choices, the usage.
    static func usageChunk(_ header: Header, chat: Bool, prompt: Int, completion: Int, cached: Int) -> Body {
        Body(
            header, object: chat ? "chat.completion.chunk" : "text_completion", choices: [],
            usage: Nullable(Usage(prompt: prompt, completion: completion, cached: cached))
        )
    }

    static func json(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // Every value here is encodable; a failure would be a programming error worth a visible body.
        return (try? encoder.encode(value)) ?? Data(#"{"error":{"message":"response encoding failed","type":"server_error","param":null,"code":null}}"#.utf8)
    }
}

/// A value OpenAI sends as `null` when absent, rather than leaving the key out.
struct Nullable<Wrapped: Encodable>: Encodable {
    var value: Wrapped?
    init(_ value: Wrapped?) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
