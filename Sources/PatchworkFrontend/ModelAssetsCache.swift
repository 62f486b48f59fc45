import Foundation
import PatchworkCore
import PatchworkEngine
import Synchronization

/// Each base model's tokenizer and chat template, fetched once from a worker that serves it.
final class ModelAssetsCache: Sendable {
    struct Assets: Sendable {
        let tokenizer: Tokenizer
        let chatTemplate: ChatTemplate?
        let contextLength: Int
    }

    private let cache = Mutex<[String: Assets]>([:])
    private let connections: WorkerConnections

    init(connections: WorkerConnections) { self.connections = connections }

    /// The assets of `model`, asking `worker` when they are not cached yet.
    func assets(model: String, from worker: WorkerView) async throws(OpenAIError) -> Assets {
        if let cached = cache.withLock({ $0[model] }) { return cached }
        guard let endpoint = worker.servingEndpoint else { throw .unavailable("worker \(worker.workerID) has no serving endpoint") }
        let requestID = "assets-\(UUID().uuidString)"
        defer { connections.finish(requestID) }
        let stream: AsyncStream<ServingMessage>
        do { stream = try connections.send(.modelAssetsRequest(requestID: requestID), requestID: requestID, to: endpoint) } catch {
            throw .unavailable("cannot reach worker \(worker.workerID)")
        }
        for await message in stream {
            guard case .modelAssets(_, let data) = message else { continue }
            do {
                let assets = Assets(
                    tokenizer: try Tokenizer(data: data.tokenizer), chatTemplate: try data.chatTemplate.map { try ChatTemplate($0) },
                    contextLength: worker.model.contextLength
                )
                cache.withLock { $0[model] = assets }
                return assets
            } catch {
                throw .internalError("model assets of \(model): \(error)")
            }
        }
        throw .unavailable("worker \(worker.workerID) did not send the model's tokenizer")
    }
}
