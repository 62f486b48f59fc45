import PatchworkCore
import PatchworkTokenizer

/// One completion, from the worker's messages to what the client receives, as a pure value:
/// the routes feed it each attempt's messages in order and carry out its actions (write an SSE
/// event, retry on another worker, answer). Streamed and whole responses share it.
///
/// A worker lost before anything reached the client is replaced (whole responses reach the
/// client only at the end); after that, a stream ends with an OpenAI-shaped error event.
struct CompletionStateMachine {
    enum Action {
        /// Streamed: one `data: {json}` event.
        case send(CompletionResponses.Body)
        /// Streamed: an error event; the stream then ends with `[DONE]`.
        case sendError(OpenAIError)
        /// Start over on another worker (the choices so far are dropped).
        case retry
        /// Whole: answer with this error.
        case fail(OpenAIError)
        /// Every choice finished. Streamed: send the usage chunk when asked, then `[DONE]`;
        /// whole: answer with the body.
        case finish(CompletionResponses.Body?)
    }

    let header: CompletionResponses.Header
    let request: CompletionRequest
    /// With `echo`: each prompt's text.
    let echoes: [String]
    let tokenizer: Tokenizer

    private(set) var choices: [CompletionResponses.Choice]
    /// Streamed: UTF-16 offset of each choice's text so far (for `text_offset`).
    private var offsets: [Int]
    /// Whether the client was sent any token (then a lost worker cannot be replaced).
    private(set) var sentTokens = false
    private(set) var done = false

    init(header: CompletionResponses.Header, request: CompletionRequest, echoes: [String], tokenizer: Tokenizer) {
        self.header = header
        self.request = request
        self.echoes = echoes
        self.tokenizer = tokenizer
        choices = []
        offsets = []
        reset()
    }

    private mutating func reset() {
        choices = (0..<request.choiceCount).map { i in CompletionResponses.Choice(text: echoes.isEmpty ? "" : echoes[i / request.n]) }
        offsets = Array(repeating: 0, count: request.choiceCount)
    }

    /// What a stream begins with: the assistant role of each chat choice, or each echoed prompt.
    mutating func start() -> [Action] {
        guard request.stream else { return [] }
        var actions: [Action] = []
        for i in 0..<request.choiceCount {
            if request.isChat {
                actions.append(.send(event(index: i, role: true, text: "", tokens: [], finishReason: nil)))
            } else if !echoes.isEmpty {
                let echo = echoes[i / request.n]
                actions.append(.send(event(index: i, text: echo, tokens: [], finishReason: nil)))
                offsets[i] = echo.utf16.count
            }
        }
        return actions
    }

    /// A message from the worker for choice `index`.
    mutating func handle(_ message: ServingMessage, choice index: Int) -> [Action] {
        guard !done else { return [] }
        switch message {
        case .chunk(let chunk):
            return received(chunk, choice: index)
        case .failure(let failure) where failure.code == .workerLost:
            return workerLost()
        case .failure(let failure):
            done = true
            let error = CompletionRoutes.error(for: failure, model: request.model, requestID: header.id)
            return [request.stream ? .sendError(error) : .fail(error)]
        default:
            return []
        }
    }

    /// The attempt's messages ended without every choice finishing (the worker went away).
    mutating func ended() -> [Action] {
        guard !done else { return [] }
        return workerLost()
    }

    /// The retry found no worker.
    mutating func retryFailed(_ error: OpenAIError) -> [Action] {
        done = true
        return [request.stream ? .sendError(error) : .fail(error)]
    }

    private mutating func workerLost() -> [Action] {
        if !(request.stream && sentTokens) {
            reset()
            return [.retry]
        }
        done = true
        return [.sendError(.unavailable("the worker serving this request stopped"))]
    }

    private mutating func received(_ chunk: InferenceChunk, choice index: Int) -> [Action] {
        let text = chunk.text
        choices[index].tokens += chunk.tokens
        choices[index].text += text
        if let reason = chunk.finishReason { choices[index].finishReason = reason }
        if let usage = chunk.usage { choices[index].usage = usage }
        var actions: [Action] = []
        if request.stream {
            if !chunk.tokens.isEmpty { sentTokens = true }
            if !chunk.tokens.isEmpty || !text.isEmpty || chunk.finishReason != nil {
                actions.append(.send(event(
                    index: index, text: chunk.tokens.isEmpty && text.isEmpty && request.isChat ? nil : text, tokens: chunk.tokens,
                    finishReason: chunk.finishReason
                )))
            }
            offsets[index] += text.utf16.count
        }
        if choices.allSatisfy({ $0.finishReason != nil }) {
            done = true
            actions.append(.finish(request.stream ? usageChunk() : whole()))
        }
        return actions
    }

    /// A streamed chunk of choice `index`.
    private func event(index: Int, role: Bool = false, text: String?, tokens: [InferenceChunk.Token], finishReason: String?) -> CompletionResponses.Body {
        CompletionResponses.chunk(
            header, index: index, chat: request.isChat, role: role, text: text, tokens: tokens, finishReason: finishReason,
            logprobs: request.logprobs, offset: offsets[index], tokenizer: tokenizer, includeUsage: request.includeUsage
        )
    }

    /// The prompt counts once for its n choices.
    private var usage: (prompt: Int, completion: Int, cached: Int) {
        var total = (prompt: 0, completion: 0, cached: 0)
        for (i, choice) in choices.enumerated() {
            if i % request.n == 0 {
                total.prompt += choice.usage?.promptTokens ?? 0
                total.cached += choice.usage?.cachedPromptTokens ?? 0
            }
            total.completion += choice.usage?.completionTokens ?? choice.tokens.count
        }
        return total
    }

    private func usageChunk() -> CompletionResponses.Body? {
        guard request.includeUsage else { return nil }
        let u = usage
        return CompletionResponses.usageChunk(header, chat: request.isChat, prompt: u.prompt, completion: u.completion, cached: u.cached)
    }

    private func whole() -> CompletionResponses.Body {
        CompletionResponses.complete(header, choices: choices, perPrompt: request.n, chat: request.isChat, logprobs: request.logprobs, tokenizer: tokenizer)
    }
}
