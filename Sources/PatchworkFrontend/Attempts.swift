import Foundation
import Logging
import PatchworkCore

/// One try of a request on one worker: a worker request per choice, their replies merged,
/// and a watchdog that reports `worker_lost` when the worker leaves the cluster view.
struct Attempt: Sendable {
    let worker: WorkerView
    let endpoint: String
    let requestIDs: [RequestID]
    let messages: AsyncStream<(Int, ServingMessage)>
    let connections: WorkerConnections
    let number: Int

    func finish(cancel: Bool) {
        for id in requestIDs { connections.finish(id, cancelAt: cancel ? endpoint : nil) }
    }
}

/// Starts attempts of one request, and new ones on other workers when a worker is lost.
struct Attempts: Sendable {
    let routes: CompletionRoutes
    let parsed: CompletionRequest
    let entry: ModelCatalog.Entry
    /// Token ids of each prompt; choice `i` answers prompt `i / n`.
    let prompts: [[Int]]
    let header: CompletionResponses.Header

    func start(on worker: WorkerView, loadSource: String? = nil, number: Int = 0) throws(OpenAIError) -> Attempt {
        guard let endpoint = worker.servingEndpoint else { throw OpenAIError.unavailable("worker \(worker.workerID) has no serving endpoint") }
        var streams: [AsyncStream<ServingMessage>] = [], ids: [RequestID] = []
        for i in 0..<parsed.choiceCount {
            var sampling = parsed.sampling
            // The j-th choice of every prompt uses seed + j: a prompt answers the same alone or in a list.
            if let seed = sampling.seed { sampling.seed = seed &+ UInt64(i % parsed.n) }
            let requestID = header.id.part(number == 0 ? "\(i)" : "\(i)-retry\(number)")
            let generate = InferenceRequest(
                requestID: requestID, promptIDs: prompts[i / parsed.n], adapter: entry.adapter, sampling: sampling,
                adapterSource: loadSource
            )
            do {
                streams.append(try routes.connections.send(.generate(generate), requestID: requestID, to: endpoint))
                ids.append(requestID)
            } catch {
                for id in ids { routes.connections.finish(id, cancelAt: endpoint) }
                throw OpenAIError.unavailable("cannot reach worker \(worker.workerID)")
            }
        }
        routes.logger.info("completion", metadata: [
            "request.id": "\(header.id)", "model": "\(parsed.model)", "worker.id": "\(worker.workerID)", "attempt": "\(number)",
            "prompt.tokens": "\(prompts.reduce(0) { $0 + $1.count })", "prompts": "\(prompts.count)", "n": "\(parsed.n)", "stream": "\(parsed.stream)",
        ])
        return Attempt(
            worker: worker, endpoint: endpoint, requestIDs: ids, messages: merge(streams, watching: worker.workerID),
            connections: routes.connections, number: number
        )
    }

    /// A new attempt on another live worker, or 503 when none is left or retries are spent.
    func retry(after lost: Attempt) async throws(OpenAIError) -> Attempt {
        routes.logger.warning("worker lost; retrying", metadata: ["request.id": "\(header.id)", "worker.id": "\(lost.worker.workerID)"])
        let next: (worker: WorkerView, loadSource: String?)
        do throws(OpenAIError) {
            guard lost.number < routes.maxRetries else { throw OpenAIError.unavailable("retries spent") }
            next = try await routes.chooseWorker(for: entry, promptIDs: prompts[0], requestID: header.id.part("r\(lost.number + 1)"), excluding: [lost.worker.workerID])
        } catch {
            throw OpenAIError.unavailable("the worker serving this request stopped and no other could take it")
        }
        return try start(on: next.worker, loadSource: next.loadSource, number: lost.number + 1)
    }

    /// Feeds attempts' messages to `machine` until it is done, moving to another worker when it
    /// says so, and hands every other action to `perform`. Returns the last attempt, finished
    /// (its requests are cancelled on the worker when the completion failed).
    func run(
        _ machine: inout CompletionStateMachine, from first: Attempt, meter: CompletionMeter,
        perform: (CompletionStateMachine.Action) async throws -> Void
    ) async rethrows -> Attempt {
        var attempt = first
        var failed = false
        func carry(_ actions: [CompletionStateMachine.Action]) async throws -> Bool {
            var retry = false
            for action in actions {
                switch action {
                case .retry: retry = true
                case .fail, .sendError: failed = true
                default: break
                }
                if case .retry = action { continue }
                try await perform(action)
            }
            return retry
        }
        do {
            while true {
                var retry = false
                for await (index, message) in attempt.messages {
                    meter.observe(message, choice: index)
                    retry = try await carry(machine.handle(message, choice: index))
                    if retry || machine.done { break }
                }
                if !retry && !machine.done { retry = try await carry(machine.ended()) }
                guard retry else {
                    attempt.finish(cancel: failed)
                    meter.completed(tokens: machine.choices.reduce(0) { $0 + $1.tokens.count })
                    return attempt
                }
                attempt.finish(cancel: false)
                do {
                    attempt = try await self.retry(after: attempt)
                } catch {
                    _ = try await carry(machine.retryFailed(error))
                    return attempt
                }
            }
        } catch {
            // `perform` failed (the client went away): stop the work on the worker, free its blocks.
            attempt.finish(cancel: true)
            throw error
        }
    }

    private func merge(_ streams: [AsyncStream<ServingMessage>], watching worker: WorkerID) -> AsyncStream<(Int, ServingMessage)> {
        let store = routes.store
        return AsyncStream { continuation in
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
                    // The watchdog: a worker that leaves the view will never answer.
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(200))
                            if !store.workers(now: Date().timeIntervalSince1970).contains(where: { $0.workerID == worker }) {
                                continuation.yield((0, .failure(ServingFailure(requestID: nil, code: .workerLost, message: "worker \(worker) left the cluster"))))
                                continuation.finish()
                                return
                            }
                        }
                    }
                    await group.next()
                    for _ in 1..<streams.count { await group.next() }
                    group.cancelAll()
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
