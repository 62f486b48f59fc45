import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PatchworkCore
import PatchworkEngine

/// `POST /v1/chat/completions` and `POST /v1/completions`: pick a worker, turn the request into
/// token ids, stream the worker's chunks back — as server-sent events or one response.
struct CompletionRoutes: Sendable {
    let store: ClusterViewStore
    let connections: WorkerConnections
    let assets: ModelAssetsCache
    let maxBodyBytes: Int
    let logger: Logger

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/chat/completions") { request, _ in try await handle(request, chat: true) }
        router.post("/v1/completions") { request, _ in try await handle(request, chat: false) }
    }

    private func handle(_ request: Request, chat: Bool) async throws(OpenAIError) -> Response {
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: maxBodyBytes) } catch {
            throw OpenAIError(status: .contentTooLarge, message: "The request body exceeds \(maxBodyBytes) bytes", type: "invalid_request_error", code: "request_too_large")
        }
        let parsed = try CompletionRequest.parse(Data(body.readableBytesView), chat: chat)
        let now = Date().timeIntervalSince1970
        let workers = store.workers(now: now)
        guard let entry = ModelCatalog(workers: workers).entry(parsed.model) else {
            if store.known(parsed.model) { throw OpenAIError.unavailable("No live worker serves the model '\(parsed.model)' right now") }
            throw OpenAIError.modelNotFound(parsed.model)
        }
        // The least loaded live worker that serves the model (KV-aware routing comes with the router's index).
        let candidates = workers.filter { entry.workers.contains($0.workerID) }
        guard let worker = candidates.min(by: { load($0) < load($1) || (load($0) == load($1) && $0.workerID < $1.workerID) }),
              let endpoint = worker.servingEndpoint
        else { throw OpenAIError.unavailable("No live worker serves the model '\(parsed.model)' right now") }
        let assets = try await self.assets.assets(model: entry.parent ?? entry.id, from: worker)
        let promptIDs = try tokenize(parsed, assets: assets)
        let total = promptIDs.count + parsed.sampling.maxTokens
        guard total <= assets.contextLength else {
            throw OpenAIError.invalidRequest(
                "This model's maximum context length is \(assets.contextLength) tokens. However, you requested \(total) tokens (\(promptIDs.count) in the \(chat ? "messages" : "prompt"), \(parsed.sampling.maxTokens) in the completion).",
                param: chat ? "messages" : "prompt", code: "context_length_exceeded"
            )
        }

        let header = CompletionResponses.Header(
            id: (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
            created: Int(now), model: parsed.model
        )
        logger.info("completion", metadata: [
            "request.id": "\(header.id)", "model": "\(parsed.model)", "worker.id": "\(worker.workerID)",
            "prompt.tokens": "\(promptIDs.count)", "n": "\(parsed.n)", "stream": "\(parsed.stream)",
        ])
        Counter(label: "patchwork_frontend_requests_total", dimensions: [("model", parsed.model)]).increment()
        // One worker request per choice; with a seed, choice i uses seed + i.
        var streams: [(id: String, stream: AsyncStream<ServingMessage>)] = []
        for i in 0..<parsed.n {
            var sampling = parsed.sampling
            if let seed = sampling.seed { sampling.seed = seed &+ UInt64(i) }
            let requestID = "\(header.id)-\(i)"
            let generate = InferenceRequest(requestID: requestID, promptIDs: promptIDs, adapter: entry.parent == nil ? nil : entry.id, sampling: sampling)
            do { streams.append((requestID, try connections.send(.generate(generate), requestID: requestID, to: endpoint))) } catch {
                for s in streams { connections.finish(s.id, cancelAt: endpoint) }
                throw OpenAIError.unavailable("cannot reach worker \(worker.workerID)")
            }
        }
        let merged = merge(streams.map(\.stream))
        let started = ContinuousClock.now
        var headers = HTTPFields()
        headers[HTTPField.Name("x-patchwork-worker")!] = worker.workerID.rawValue
        headers[HTTPField.Name("x-request-id")!] = header.id
        if parsed.stream {
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-cache"
            let streamer = Streamer(
                header: header, parsed: parsed, tokenizer: assets.tokenizer, connections: connections, endpoint: endpoint,
                requestIDs: streams.map(\.id), started: started, logger: logger
            )
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await streamer.write(merged, to: &writer)
            })
        }
        var choices = Array(repeating: CompletionResponses.Choice(), count: parsed.n)
        var firstToken = true
        for await (index, message) in merged {
            switch message {
            case .chunk(let chunk):
                if firstToken && !chunk.tokens.isEmpty {
                    firstToken = false
                    Timer(label: "patchwork_frontend_time_to_first_token_seconds", dimensions: [("model", parsed.model)]).record(duration: ContinuousClock.now - started)
                }
                choices[index].tokens += chunk.tokens
                choices[index].text += chunk.tokens.map(\.text).joined()
                if let reason = chunk.finishReason { choices[index].finishReason = reason }
                if let usage = chunk.usage { choices[index].usage = usage }
            case .failure(let failure):
                for id in streams.map(\.id) { connections.finish(id, cancelAt: endpoint) }
                throw Self.error(for: failure, model: parsed.model)
            default: break
            }
        }
        for id in streams.map(\.id) { connections.finish(id) }
        guard choices.allSatisfy({ $0.finishReason != nil }) else { throw OpenAIError.unavailable("the worker stopped before the completion finished") }
        Counter(label: "patchwork_frontend_completion_tokens_total", dimensions: [("model", parsed.model)])
            .increment(by: choices.reduce(0) { $0 + $1.tokens.count })
        headers[.contentType] = "application/json"
        let json = CompletionResponses.complete(header, choices: choices, chat: chat, logprobs: parsed.logprobs, tokenizer: assets.tokenizer)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: CompletionResponses.json(json))))
    }

    private func load(_ worker: WorkerView) -> Int { worker.metrics.runningRequests + worker.metrics.waitingRequests }

    private func tokenize(_ parsed: CompletionRequest, assets: ModelAssetsCache.Assets) throws(OpenAIError) -> [Int] {
        switch parsed.input {
        case .chat(let messages):
            guard let template = assets.chatTemplate else { throw OpenAIError.invalidRequest("this model has no chat template; use /v1/completions", param: "messages") }
            let tokenizer = assets.tokenizer
            do {
                let prompt = try template.render(
                    messages: messages, addGenerationPrompt: true,
                    bosToken: tokenizer.bosID.map { tokenizer.vocabulary[$0] } ?? "", eosToken: tokenizer.eosID.map { tokenizer.vocabulary[$0] } ?? ""
                )
                return tokenizer.encode(prompt, addBOS: false)
            } catch {
                throw OpenAIError.invalidRequest("the chat template refused these messages: \(error.message)", param: "messages")
            }
        case .text(let text):
            let ids = assets.tokenizer.encode(text)
            guard !ids.isEmpty else { throw OpenAIError.invalidRequest("the prompt is empty", param: "prompt") }
            return ids
        case .tokens(let ids):
            guard ids.allSatisfy({ $0 >= 0 && $0 < assets.tokenizer.count }) else {
                throw OpenAIError.invalidRequest("token ids must be between 0 and \(assets.tokenizer.count - 1)", param: "prompt")
            }
            return ids
        }
    }

    static func error(for failure: ServingFailure, model: String) -> OpenAIError {
        switch failure.code {
        case .unknownAdapter: return .modelNotFound(model)
        case .contextExceeded: return .invalidRequest(failure.message, param: "messages", code: "context_length_exceeded")
        case .invalidParameters, .badRequest: return .invalidRequest(failure.message)
        case .shuttingDown: return .unavailable("the worker is shutting down; retry")
        case .internalError: return .internalError(failure.message)
        }
    }

    /// The choices' replies, interleaved, tagged with the choice index.
    private func merge(_ streams: [AsyncStream<ServingMessage>]) -> AsyncStream<(Int, ServingMessage)> {
        AsyncStream { continuation in
            let task = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (index, stream) in streams.enumerated() {
                        group.addTask {
                            for await message in stream {
                                continuation.yield((index, message))
                                if case .chunk(let c) = message, c.finishReason != nil { break }
                                if case .failure = message { break }
                            }
                        }
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// Writes a completion as server-sent events, as OpenAI sends them: `data: {json}` blocks,
/// then `data: [DONE]`. A client that goes away cancels its requests on the worker.
struct Streamer: Sendable {
    let header: CompletionResponses.Header
    let parsed: CompletionRequest
    let tokenizer: Tokenizer
    let connections: WorkerConnections
    let endpoint: String
    let requestIDs: [String]
    let started: ContinuousClock.Instant
    let logger: Logger

    func write(_ messages: AsyncStream<(Int, ServingMessage)>, to writer: inout any ResponseBodyWriter) async throws {
        let chat = parsed.isChat
        var offsets = Array(repeating: 0, count: parsed.n)
        var usage = (prompt: 0, completion: 0, cached: 0)
        var firstToken = true
        do {
            if chat {
                for i in 0..<parsed.n {
                    try await send(CompletionResponses.chunk(header, index: i, chat: true, role: true, text: "", tokens: [], finishReason: nil,
                                                              logprobs: false, offset: 0, tokenizer: tokenizer, includeUsage: parsed.includeUsage), &writer)
                }
            }
            for await (index, message) in messages {
                switch message {
                case .chunk(let chunk):
                    if firstToken && !chunk.tokens.isEmpty {
                        firstToken = false
                        Timer(label: "patchwork_frontend_time_to_first_token_seconds", dimensions: [("model", parsed.model)]).record(duration: ContinuousClock.now - started)
                    }
                    let text = chunk.tokens.map(\.text).joined()
                    if !chunk.tokens.isEmpty || chunk.finishReason != nil {
                        try await send(CompletionResponses.chunk(
                            header, index: index, chat: chat, text: chunk.tokens.isEmpty && chat ? nil : text, tokens: chunk.tokens,
                            finishReason: chunk.finishReason, logprobs: parsed.logprobs, offset: offsets[index], tokenizer: tokenizer,
                            includeUsage: parsed.includeUsage
                        ), &writer)
                    }
                    offsets[index] += text.utf16.count
                    if let u = chunk.usage {
                        usage.prompt = u.promptTokens
                        usage.cached = u.cachedPromptTokens
                        usage.completion += u.completionTokens
                    }
                case .failure(let failure):
                    let error = CompletionRoutes.error(for: failure, model: parsed.model)
                    try await writer.write(ByteBuffer(string: "data: " + String(decoding: CompletionResponses.json(["error": [
                        "message": error.error.message, "type": error.error.type, "param": error.error.param.map { $0 as Any } ?? NSNull(), "code": error.error.code.map { $0 as Any } ?? NSNull(),
                    ]]), as: UTF8.self) + "\n\n"))
                default: break
                }
            }
            if parsed.includeUsage {
                try await send(CompletionResponses.usageChunk(header, chat: chat, prompt: usage.prompt, completion: usage.completion, cached: usage.cached), &writer)
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
            for id in requestIDs { connections.finish(id) }
        } catch {
            // The client went away: stop the work on the worker and free its blocks.
            logger.info("client disconnected; cancelling", metadata: ["request.id": "\(header.id)"])
            for id in requestIDs { connections.finish(id, cancelAt: endpoint) }
            throw error
        }
    }

    private func send(_ object: [String: Any], _ writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(ByteBuffer(string: "data: " + String(decoding: CompletionResponses.json(object), as: UTF8.self) + "\n\n"))
    }
}
