import Foundation
import PatchworkCore
import PatchworkEngine

/// OpenAI's response bodies for chat and text completions, whole and streamed. Fields OpenAI
/// sends as `null` are encoded as null, not left out.
enum CompletionResponses {
    /// One choice's output so far.
    struct Choice {
        var text = ""
        var tokens: [InferenceChunk.Token] = []
        var finishReason: String?
        var usage: InferenceChunk.Usage?
    }

    struct Header {
        var id: String
        var created: Int
        var model: String
        static let fingerprint = "fp_patchwork"
    }

    static func chatLogprobs(_ tokens: [InferenceChunk.Token], tokenizer: Tokenizer) -> [String: Any] {
        func entry(_ id: Int, _ logprob: Float) -> [String: Any] {
            ["token": tokenizer.decode([id]), "logprob": Double(logprob), "bytes": tokenizer.bytes(of: id).map(Int.init)]
        }
        return ["content": tokens.map { t in
            var e = entry(t.id, t.logprob)
            e["top_logprobs"] = t.top.map { entry($0.id, $0.logprob) }
            return e
        }]
    }

    static func completionLogprobs(_ tokens: [InferenceChunk.Token], offset: Int, tokenizer: Tokenizer) -> [String: Any] {
        var textOffset: [Int] = [], position = offset
        for t in tokens {
            textOffset.append(position)
            position += t.text.utf16.count
        }
        return [
            "tokens": tokens.map { tokenizer.decode([$0.id]) },
            "token_logprobs": tokens.map { Double($0.logprob) },
            "top_logprobs": tokens.map { t in Dictionary(t.top.map { (tokenizer.decode([$0.id]), Double($0.logprob)) }, uniquingKeysWith: max) },
            "text_offset": textOffset,
        ]
    }

    /// A whole response.
    static func complete(_ header: Header, choices: [Choice], chat: Bool, logprobs: Bool, tokenizer: Tokenizer) -> [String: Any] {
        let prompt = choices.first?.usage?.promptTokens ?? 0
        let cached = choices.first?.usage?.cachedPromptTokens ?? 0
        let completion = choices.reduce(0) { $0 + ($1.usage?.completionTokens ?? $1.tokens.count) }
        return [
            "id": header.id, "object": chat ? "chat.completion" : "text_completion", "created": header.created, "model": header.model,
            "system_fingerprint": Header.fingerprint,
            "choices": choices.enumerated().map { i, c -> [String: Any] in
                var choice: [String: Any] = ["index": i, "finish_reason": c.finishReason ?? NSNull()]
                if chat {
                    choice["message"] = ["role": "assistant", "content": c.text]
                    choice["logprobs"] = logprobs ? chatLogprobs(c.tokens, tokenizer: tokenizer) : NSNull()
                } else {
                    choice["text"] = c.text
                    choice["logprobs"] = logprobs ? completionLogprobs(c.tokens, offset: 0, tokenizer: tokenizer) : NSNull()
                }
                return choice
            },
            "usage": usageObject(prompt: prompt, completion: completion, cached: cached),
        ]
    }

    static func usageObject(prompt: Int, completion: Int, cached: Int) -> [String: Any] {
        ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
         "prompt_tokens_details": ["cached_tokens": cached]]
    }

    /// One streamed chunk for choice `index`.
    static func chunk(
        _ header: Header, index: Int, chat: Bool, role: Bool = false, text: String?, tokens: [InferenceChunk.Token], finishReason: String?,
        logprobs: Bool, offset: Int, tokenizer: Tokenizer, includeUsage: Bool
    ) -> [String: Any] {
        var choice: [String: Any] = ["index": index, "finish_reason": finishReason ?? NSNull()]
        if chat {
            var delta: [String: Any] = [:]
            if role { delta["role"] = "assistant" }
            if let text { delta["content"] = text }
            choice["delta"] = delta
            choice["logprobs"] = logprobs && !tokens.isEmpty ? chatLogprobs(tokens, tokenizer: tokenizer) : NSNull()
        } else {
            choice["text"] = text ?? ""
            choice["logprobs"] = logprobs && !tokens.isEmpty ? completionLogprobs(tokens, offset: offset, tokenizer: tokenizer) : NSNull()
        }
        var body: [String: Any] = [
            "id": header.id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": header.created,
            "model": header.model, "system_fingerprint": Header.fingerprint, "choices": [choice],
        ]
        if includeUsage { body["usage"] = NSNull() }
        return body
    }

    static func usageChunk(_ header: Header, chat: Bool, prompt: Int, completion: Int, cached: Int) -> [String: Any] {
        ["id": header.id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": header.created, "model": header.model,
         "system_fingerprint": Header.fingerprint, "choices": [Any](), "usage": usageObject(prompt: prompt, completion: completion, cached: cached)]
    }

    static func json(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    }
}
