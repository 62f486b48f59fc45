import Foundation
import PatchworkCore
import PatchworkTokenizer
import Synchronization

/// Each base model's tokenizer and chat template, fetched once from a worker that serves it.
///
/// Concurrent first requests share one fetch. A worker that leaves the cluster view, or does
/// not answer within ``fetchTimeout``, is given up and the next one is asked, so a request never
/// waits on a dead or frozen worker.
final class ModelAssetsCache: Sendable {
    struct Assets: Sendable {
        let tokenizer: Tokenizer
        let chatTemplate: ChatTemplate?
        let contextLength: Int
    }

    /// How long one worker may take to send a model's assets.
    static let fetchTimeout = Duration.seconds(10)

    private struct State {
        var cached: [ModelName: Assets] = [:]
        var fetching: [ModelName: Task<Assets, any Error>] = [:]
    }

    private let state = Mutex(State())
    private let connections: WorkerConnections
    /// Whether a worker is still in the cluster view.
    private let isLive: @Sendable (WorkerID) -> Bool

    init(connections: WorkerConnections, isLive: @escaping @Sendable (WorkerID) -> Bool) {
        self.connections = connections
        self.isLive = isLive
    }

    /// The assets of `model`, asking `workers` in turn when they are not cached yet.
    func assets(model: ModelName, from workers: [WorkerView]) async throws(OpenAIError) -> Assets {
        let task = state.withLock { state -> Task<Assets, any Error>? in
            if state.cached[model] != nil { return nil }
            if let running = state.fetching[model] { return running }
            let task = Task { try await self.fetch(model: model, from: workers) }
            state.fetching[model] = task
            return task
        }
        guard let task else { return state.withLock { $0.cached[model]! } }
        do {
            let assets = try await task.value
            state.withLock { state in
                state.cached[model] = assets
                state.fetching[model] = nil
            }
            return assets
        } catch {
            state.withLock { $0.fetching[model] = nil }
            throw error as? OpenAIError ?? .internalError("model assets of \(model): \(error)")
        }
    }

    private func fetch(model: ModelName, from workers: [WorkerView]) async throws(OpenAIError) -> Assets {
        var failures: [String] = []
        for worker in workers {
            guard let endpoint = worker.servingEndpoint else { continue }
            switch await fetch(from: worker, endpoint: endpoint) {
            case .some(let data):
                do {
                    return Assets(
                        tokenizer: try Tokenizer(data: data.tokenizer), chatTemplate: try data.chatTemplate.map { try ChatTemplate($0) },
                        contextLength: worker.model.contextLength
                    )
                } catch {
                    throw .internalError("model assets of \(model) from \(worker.workerID): \(error)")
                }
            case .none:
                failures.append(worker.workerID.rawValue)
            }
        }
        throw .unavailable("no worker sent the tokenizer of '\(model)' (asked: \(failures.joined(separator: ", ")))")
    }

    /// One worker's answer, or nil when it cannot be reached or does not answer in time.
    private func fetch(from worker: WorkerView, endpoint: String) async -> ModelAssets? {
        let requestID = RequestID.fresh(prefix: "assets-")
        defer { connections.finish(requestID) }
        guard let stream = try? connections.send(.modelAssetsRequest(requestID: requestID), requestID: requestID, to: endpoint) else { return nil }
        return await withTaskGroup(of: ModelAssets?.self) { group in
            group.addTask {
                for await message in stream {
                    if case .modelAssets(_, let data) = message { return data }
                }
                return nil
            }
            group.addTask {
                let deadline = ContinuousClock.now + Self.fetchTimeout
                while !Task.isCancelled && ContinuousClock.now < deadline && self.isLive(worker.workerID) {
                    try? await Task.sleep(for: .milliseconds(200))
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            // The stream ends when the request is finished (the defer), which also ends the first task.
            self.connections.finish(requestID)
            return first
        }
    }
}
