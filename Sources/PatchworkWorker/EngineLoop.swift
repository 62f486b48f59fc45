import Foundation
import Logging
import PatchworkCore
import PatchworkEngine
import Synchronization

/// Runs the worker's ``BatchScheduler`` on a thread of its own: the forward pass computes for
/// tens of milliseconds at a time and must not hold one of the Swift pool's few threads.
/// Requests and cancels arrive from any thread through a queue; each step's tokens go back as
/// chunks through `reply`, and the step's KV events through `publish`.
final class EngineLoop: @unchecked Sendable {
    // @unchecked Sendable: `scheduler`, `peers` and `model` are touched only by the loop's
    // thread; `commands` and `stopping` only under `condition`; `metrics` is a Mutex.
    private enum Command {
        case submit(peer: [UInt8], InferenceRequest)
        case cancel(String)
    }

    private let scheduler: BatchScheduler
    private let resolveAdapter: @Sendable (String) -> ResidentAdapter?
    private let reply: @Sendable ([UInt8], ServingMessage) -> Void
    private let publish: @Sendable ([KVEvent]) -> Void
    private let logger: Logger
    private let condition = NSCondition()
    private var commands: [Command] = []
    private var stopping = false
    private var peers: [String: [UInt8]] = [:]
    private let currentMetrics = Mutex(LoadMetrics())

    init(
        scheduler: BatchScheduler, resolveAdapter: @escaping @Sendable (String) -> ResidentAdapter?,
        reply: @escaping @Sendable ([UInt8], ServingMessage) -> Void, publish: @escaping @Sendable ([KVEvent]) -> Void, logger: Logger
    ) {
        self.scheduler = scheduler
        self.resolveAdapter = resolveAdapter
        self.reply = reply
        self.publish = publish
        self.logger = logger
        currentMetrics.withLock { $0.kvBlocksTotal = scheduler.pool.blockCount }
    }

    /// Load for heartbeats and `/metrics`.
    var metrics: LoadMetrics { currentMetrics.withLock { $0 } }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "engine"
        thread.start()
    }

    func submit(_ request: InferenceRequest, from peer: [UInt8]) { enqueue(.submit(peer: peer, request)) }
    func cancel(_ requestID: String) { enqueue(.cancel(requestID)) }

    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func enqueue(_ command: Command) {
        condition.lock()
        commands.append(command)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while commands.isEmpty && !scheduler.hasWork && !stopping { condition.wait() }
            let pending = commands
            commands.removeAll()
            let stop = stopping
            condition.unlock()
            if stop { break }
            for command in pending { apply(command) }
            if scheduler.hasWork { runStep() }
            updateMetrics()
        }
        for (requestID, peer) in peers {
            reply(peer, .failure(ServingFailure(requestID: requestID, code: .shuttingDown, message: "the worker is shutting down")))
        }
    }

    private func apply(_ command: Command) {
        switch command {
        case .cancel(let requestID):
            if scheduler.cancel(requestID) {
                peers[requestID] = nil
                logger.info("request cancelled", metadata: ["request.id": "\(requestID)"])
            }
        case .submit(let peer, let request):
            var adapter: ResidentAdapter?
            if let name = request.adapter {
                guard let resident = resolveAdapter(name) else {
                    reply(peer, .failure(ServingFailure(requestID: request.requestID, code: .unknownAdapter, message: "LoRA adapter '\(name)' is not loaded on this worker")))
                    return
                }
                adapter = resident
            }
            do {
                try scheduler.submit(GenerationRequest(id: request.requestID, promptIDs: request.promptIDs, parameters: request.sampling, adapter: adapter))
                peers[request.requestID] = peer
                logger.debug("request queued", metadata: ["request.id": "\(request.requestID)", "prompt.tokens": "\(request.promptIDs.count)"])
            } catch {
                let code: ServingFailure.Code = switch error {
                case .invalidParameters: .invalidParameters
                case .invalidPrompt(let reason) where reason.contains("exceeds"): .contextExceeded
                case .invalidPrompt: .badRequest
                }
                reply(peer, .failure(ServingFailure(requestID: request.requestID, code: code, message: error.description)))
            }
        }
    }

    private func runStep() {
        let outputs = scheduler.step()
        for output in outputs {
            guard let peer = peers[output.requestID] else { continue }
            let tokens = output.token.map { token in
                [InferenceChunk.Token(id: token.id, text: token.text, logprob: token.logprob, top: token.top.map { .init(id: $0.id, logprob: $0.logprob) })]
            } ?? []
            let usage = output.finishReason == nil ? nil : InferenceChunk.Usage(
                promptTokens: output.promptTokens, completionTokens: output.completionTokens, cachedPromptTokens: output.cachedPromptTokens
            )
            reply(peer, .chunk(InferenceChunk(requestID: output.requestID, tokens: tokens, finishReason: output.finishReason?.rawValue, usage: usage)))
            if output.finishReason != nil { peers[output.requestID] = nil }
        }
        let events = scheduler.drainEvents()
        if !events.isEmpty { publish(events) }
    }

    private func updateMetrics() {
        currentMetrics.withLock { m in
            m.runningRequests = scheduler.runningCount
            m.waitingRequests = scheduler.waitingCount
            m.kvBlocksUsed = scheduler.pool.usedBlocks
        }
    }
}
