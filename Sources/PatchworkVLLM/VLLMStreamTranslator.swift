import Foundation
import PatchworkCore

/// Turns the events of one vLLM completion stream (`data:` payloads, in order) into
/// ``InferenceChunk``s: one per event that brings tokens, and a last one with the finish reason
/// and usage. vLLM sends the finish reason with the last tokens and the usage in an event of its
/// own after them, so the last tokens wait for the usage (or for `[DONE]`).
public struct VLLMStreamTranslator: Sendable {
    public enum Output: Sendable, Equatable {
        case chunk(InferenceChunk)
        /// vLLM reported an error inside the stream; nothing more comes.
        case failure(ServingFailure)
    }

    public let requestID: RequestID
    public let promptTokens: Int
    private var generated = 0
    private var held: InferenceChunk?
    public private(set) var finished = false

    public init(requestID: RequestID, promptTokens: Int) {
        self.requestID = requestID
        self.promptTokens = promptTokens
    }

    struct Event: Decodable {
        struct Choice: Decodable {
            struct Logprobs: Decodable {
                var token_logprobs: [Float?]?
                var top_logprobs: [[String: Float]?]?
            }
            var text: String?
            var token_ids: [Int]?
            var finish_reason: String?
            var logprobs: Logprobs?
        }
        struct Usage: Decodable {
            struct Details: Decodable { var cached_tokens: Int? }
            var prompt_tokens: Int
            var completion_tokens: Int
            var prompt_tokens_details: Details?
        }
        struct ErrorBody: Decodable { var message: String? }
        var choices: [Choice]?
        var usage: Usage?
        var error: ErrorBody?
    }

    /// What one event's data adds.
    public mutating func translate(_ data: String) -> [Output] {
        guard !finished else { return [] }
        if data == "[DONE]" { return finish(usage: nil) }
        let event: Event
        do { event = try JSONDecoder().decode(Event.self, from: Data(data.utf8)) } catch {
            finished = true
            return [.failure(ServingFailure(requestID: requestID, code: .internalError, message: "vLLM sent an event that is not a completion chunk: \(data.prefix(200))"))]
        }
        if let error = event.error {
            finished = true
            return [.failure(ServingFailure(requestID: requestID, code: .internalError, message: "vLLM: \(error.message ?? "error")"))]
        }
        var outputs: [Output] = []
        for choice in event.choices ?? [] {
            let ids = choice.token_ids ?? []
            generated += ids.count
            let tokens = ids.enumerated().map { i, id in
                InferenceChunk.Token(
                    // The chunk's text completes with its last token (earlier ones end mid-character or add none).
                    id: id, text: i == ids.count - 1 ? choice.text ?? "" : "",
                    logprob: choice.logprobs?.token_logprobs?[safe: i].flatMap { $0 } ?? 0,
                    top: Self.alternatives(choice.logprobs?.top_logprobs?[safe: i].flatMap { $0 })
                )
            }
            let chunk = InferenceChunk(requestID: requestID, tokens: tokens, finishReason: choice.finish_reason, usage: nil)
            if choice.finish_reason != nil {
                if let earlier = held { outputs.append(.chunk(earlier)) }
                held = chunk
            } else if !tokens.isEmpty {
                outputs.append(.chunk(chunk))
            }
        }
        if let usage = event.usage {
            outputs += finish(usage: InferenceChunk.Usage(
                promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens,
                cachedPromptTokens: usage.prompt_tokens_details?.cached_tokens ?? 0
            ))
        }
        return outputs
    }

    /// The stream ended: the last tokens if they still wait for their usage, or a failure when
    /// vLLM closed it before the request finished.
    public mutating func ended() -> [Output] {
        if finished { return [] }
        if held != nil { return finish(usage: nil) }
        finished = true
        return [.failure(ServingFailure(requestID: requestID, code: .internalError, message: "vLLM closed the stream before the request finished"))]
    }

    private mutating func finish(usage: InferenceChunk.Usage?) -> [Output] {
        guard var last = held else { return [] }
        finished = true
        held = nil
        last.usage = usage ?? InferenceChunk.Usage(promptTokens: promptTokens, completionTokens: generated, cachedPromptTokens: 0)
        return [.chunk(last)]
    }

    /// `token_id:<id>` entries, most likely first.
    static func alternatives(_ entries: [String: Float]?) -> [InferenceChunk.TopLogprob] {
        (entries ?? [:]).compactMap { key, logprob in
            key.hasPrefix("token_id:") ? Int(key.dropFirst(9)).map { InferenceChunk.TopLogprob(id: $0, logprob: logprob) } : nil
        }.sorted { ($0.logprob, -$0.id) > ($1.logprob, -$1.id) }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
