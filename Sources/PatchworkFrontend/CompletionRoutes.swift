import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import PatchworkCore
import PatchworkTokenizer
import Synchronization

/// `POST /v1/chat/completions` and `POST /v1/completions`: pick a worker, turn the request into
/// token ids, stream the worker's chunks back — as server-sent events or one response.
struct CompletionRoutes: Sendable {
    let store: ClusterViewStore
    let routers: ClusterViewClient
    let connections: WorkerConnections
    let access: AccessControl?
    let assets: ModelAssetsCache
    let maxBodyBytes: Int
    /// Times a request moves to another worker when its worker dies before it sent anything.
    let maxRetries: Int
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
        let grant = RequestAccess.grant
        // Another tenant's adapter does not exist for this key: the same 404 as an unknown name.
        if let grant, !grant.allows(parsed.model) { throw OpenAIError.modelNotFound(parsed.model) }
        let entry = try await resolve(parsed.model)
        // Any worker of the base model can send its tokenizer; the router picks who serves.
        let senders = liveWorkers(for: entry, excluding: [])
        guard !senders.isEmpty else { throw OpenAIError.unavailable("No live worker serves the model '\(parsed.model)' right now") }
        let assets = try await self.assets.assets(model: entry.base, from: senders)
        let prompts = try tokenize(parsed, assets: assets)
        for ids in prompts {
            let total = ids.count + parsed.sampling.maxTokens
            guard total <= assets.contextLength else {
                throw OpenAIError.invalidRequest(
                    "This model's maximum context length is \(assets.contextLength) tokens. However, you requested \(total) tokens (\(ids.count) in the \(chat ? "messages" : "prompt"), \(parsed.sampling.maxTokens) in the completion).",
                    param: chat ? "messages" : "prompt", code: "context_length_exceeded"
                )
            }
        }
        // `echo`: each choice's text starts with its prompt, as the tokenizer reads it back.
        let echoes = parsed.echo ? prompts.map { assets.tokenizer.decode($0) } : []
        let admitted = try admit(grant, tokens: prompts.reduce(0) { $0 + $1.count } + parsed.sampling.maxTokens * parsed.choiceCount)
        // Running until the answer is complete (a stream's body keeps it longer).
        defer { withExtendedLifetime(admitted) {} }

        let header = CompletionResponses.Header(
            id: PatchworkCore.RequestID.fresh(prefix: chat ? "chatcmpl-" : "cmpl-"),
            created: Int(now), model: parsed.model
        )
        Counter(label: "patchwork_frontend_requests_total", dimensions: [("model", parsed.model)]).increment()
        let attempts = Attempts(routes: self, parsed: parsed, entry: entry, prompts: prompts, header: header)
        // One worker serves every choice; the first prompt decides which.
        let first = try await chooseWorker(for: entry, promptIDs: prompts[0], requestID: header.id, excluding: [])
        let attempt = try attempts.start(on: first.worker, loadSource: first.loadSource)
        let machine = CompletionStateMachine(header: header, request: parsed, echoes: echoes, tokenizer: assets.tokenizer)
        let meter = CompletionMeter(model: parsed.model, choices: parsed.choiceCount)
        var headers = HTTPFields()
        for (name, value) in admitted?.headers ?? [] { headers[HTTPField.Name(name)!] = value }
        headers[HTTPField.Name("x-patchwork-worker")!] = attempt.worker.workerID.rawValue
        headers[HTTPField.Name("x-request-id")!] = header.id.rawValue
        if parsed.stream {
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-cache"
            let logger = self.logger
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                // The request counts as running until its stream ends.
                defer { withExtendedLifetime(admitted) {} }
                try await Streamer(attempts: attempts, meter: meter, logger: logger).write(machine, from: attempt, to: &writer)
            })
        }
        // Nothing reaches the client before the end, so a lost worker can always be replaced.
        var whole = machine
        var answer: Result<CompletionResponses.Body, OpenAIError>?
        let last = await attempts.run(&whole, from: attempt, meter: meter) { action in
            switch action {
            case .finish(let body?): answer = .success(body)
            case .fail(let error): answer = .failure(error)
            case .finish(nil), .send, .sendError, .retry: break
            }
        }
        switch answer {
        case .success(let body):
            headers[HTTPField.Name("x-patchwork-worker")!] = last.worker.workerID.rawValue
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: CompletionResponses.json(body))))
        case .failure(let error): throw error
        case nil: throw OpenAIError.unavailable("the worker stopped before the completion finished")
        }
    }

    /// Charges the request to its key's limits (none without keys); 429 in OpenAI's shape, with
    /// `Retry-After` and `x-ratelimit-*`, when a limit is reached.
    private func admit(_ grant: APIKeyBook.Grant?, tokens: Int) throws(OpenAIError) -> AdmittedRequest? {
        guard let grant, let access else { return nil }
        let (refusal, headers) = access.admit(grant, tokens: tokens)
        if let refusal {
            var error = OpenAIError(status: .tooManyRequests, message: refusal.message, type: "requests", code: "rate_limit_exceeded")
            error.headers = headers + [("retry-after", "\(max(1, Int(refusal.retryAfter.rounded(.up))))")]
            throw error
        }
        return AdmittedRequest(access: access, grant: grant, headers: headers)
    }

    /// The model a request names, from this frontend's view; on a miss, from its routers' views
    /// asked for at once (the model may have been loaded a moment ago). An adapter whose workers
    /// died is loaded on demand where the router says.
    /// - Throws: 404 for a model the cluster does not serve; 503 for a base model (or an adapter
    ///   of one) whose workers are all gone.
    func resolve(_ model: String) async throws(OpenAIError) -> ModelCatalog.Entry {
        func lookup() -> ModelCatalog.Entry? {
            let now = Date().timeIntervalSince1970
            let catalog = ModelCatalog(workers: store.workers(now: now))
            return catalog.entry(model) ?? store.loadable(model, now: now).flatMap(catalog.entry(loading:))
        }
        if let entry = lookup() { return entry }
        await routers.refresh()
        if let entry = lookup() { return entry }
        let loadable = store.loadable(model, now: Date().timeIntervalSince1970)
        if store.wasServedAsBaseModel(model) || loadable != nil {
            throw OpenAIError.unavailable("No live worker serves the model '\(loadable?.model.rawValue ?? model)' right now")
        }
        throw OpenAIError.modelNotFound(model)
    }

    /// The worker for a request, and the source it must load the adapter from first (when no
    /// live worker holds it): the router's pick, or, when no router answers in time, the least
    /// loaded live worker in this frontend's view.
    /// - Throws: 404 when the router knows the adapter is not served (unloaded a moment ago),
    ///   503 when no worker can take the request.
    func chooseWorker(
        for entry: ModelCatalog.Entry, promptIDs: [Int], requestID: PatchworkCore.RequestID, excluding: Set<WorkerID>
    ) async throws(OpenAIError) -> (worker: WorkerView, loadSource: String?) {
        let request = RouteRequest(
            requestID: requestID, model: entry.base, adapter: entry.adapter, promptIDs: promptIDs,
            excluding: Array(excluding)
        )
        if let decision = await routers.route(request) {
            guard let chosen = decision.workerID else {
                if decision.refusal == .modelNotFound { throw OpenAIError.modelNotFound(entry.id) }
                throw OpenAIError.unavailable("No live worker serves the model '\(entry.id)' right now")
            }
            if let worker = store.workers(now: Date().timeIntervalSince1970).first(where: { $0.workerID == chosen }) {
                return (worker, decision.loadSource)
            }
        }
        logger.notice("no routing decision; choosing locally", metadata: ["request.id": "\(requestID)"])
        guard let local = localChoice(for: entry, excluding: excluding) else {
            throw OpenAIError.unavailable("No live worker serves the model '\(entry.id)' right now")
        }
        return (local, entry.loadable ? entry.root : nil)
    }

    /// The least loaded live worker serving `entry` in this frontend's view.
    func localChoice(for entry: ModelCatalog.Entry, excluding: Set<WorkerID>) -> WorkerView? {
        liveWorkers(for: entry, excluding: excluding).first
    }

    /// The live workers serving `entry` in this frontend's view, least loaded first.
    func liveWorkers(for entry: ModelCatalog.Entry, excluding: Set<WorkerID>) -> [WorkerView] {
        store.workers(now: Date().timeIntervalSince1970)
            .filter { entry.workers.contains($0.workerID) && !excluding.contains($0.workerID) && $0.servingEndpoint != nil }
            .sorted { load($0) < load($1) || (load($0) == load($1) && $0.workerID < $1.workerID) }
    }

    private func load(_ worker: WorkerView) -> Int { worker.metrics.runningRequests + worker.metrics.waitingRequests }

    /// Each prompt's token ids (one for chat).
    private func tokenize(_ parsed: CompletionRequest, assets: ModelAssetsCache.Assets) throws(OpenAIError) -> [[Int]] {
        switch parsed.input {
        case .chat(let messages):
            guard let template = assets.chatTemplate else { throw OpenAIError.invalidRequest("this model has no chat template; use /v1/completions", param: "messages") }
            do {
                return [try ChatPrompt(template: template, tokenizer: assets.tokenizer).encode(messages)]
            } catch {
                throw OpenAIError.invalidRequest("the chat template refused these messages: \(error.message)", param: "messages")
            }
        case .prompts(let prompts):
            return try prompts.enumerated().map { index, prompt throws(OpenAIError) in
                let which = prompts.count == 1 ? "the prompt" : "prompt[\(index)]"
                switch prompt {
                case .text(let text):
                    let ids = assets.tokenizer.encode(text)
                    guard !ids.isEmpty else { throw OpenAIError.invalidRequest("\(which) is empty", param: "prompt") }
                    return ids
                case .tokens(let ids):
                    guard ids.allSatisfy({ $0 >= 0 && $0 < assets.tokenizer.count }) else {
                        throw OpenAIError.invalidRequest("token ids of \(which) must be between 0 and \(assets.tokenizer.count - 1)", param: "prompt")
                    }
                    return ids
                }
            }
        }
    }

    /// The client-facing error for a worker's failure; internal ones are logged with the request id.
    static func error(for failure: ServingFailure, model: String, requestID: PatchworkCore.RequestID) -> OpenAIError {
        switch failure.code {
        case .unknownAdapter: return .modelNotFound(model)
        case .contextExceeded: return .invalidRequest(failure.message, param: "messages", code: "context_length_exceeded")
        case .invalidParameters, .badRequest: return .invalidRequest(failure.message)
        case .shuttingDown: return .unavailable("the worker is shutting down; retry")
        case .workerLost: return .unavailable("the worker serving this request stopped")
        case .adapterLoadFailed: return .unavailable(failure.message)
        case .internalError: return .internalError("request \(requestID): \(failure.message)")
        }
    }

}

/// A request admitted under its key's limits: it counts as running until this is released (the
/// handler's end, or its stream's).
final class AdmittedRequest: Sendable {
    let access: AccessControl
    let grant: APIKeyBook.Grant
    let headers: RateLimiter.Headers

    init(access: AccessControl, grant: APIKeyBook.Grant, headers: RateLimiter.Headers) {
        (self.access, self.grant, self.headers) = (access, grant, headers)
    }

    deinit { access.finished(grant) }
}
