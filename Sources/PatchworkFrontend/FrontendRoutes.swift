import Foundation
import Hummingbird
import Logging
import PatchworkCore
import PatchworkRuntime
import Prometheus

/// The frontend's HTTP routes.
struct FrontendRoutes: Sendable {
    let store: ClusterViewStore
    let routers: ClusterViewClient
    let connections: WorkerConnections
    let access: AccessControl?
    let maxBodyBytes: Int
    let maxRetries: Int
    let logger: Logger

    func makeRouter(registry: PrometheusCollectorRegistry) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: OpenAIErrorMiddleware(logger: logger))
        router.addOpenAPI(FrontendOpenAPI.document(secured: access != nil))
        if let access { router.add(middleware: APIKeyMiddleware(access: access)) }
        router.addSystemRoutes(registry: registry) {
            let now = Date().timeIntervalSince1970
            let reachable = store.reachableRouters(now: now)
            let workers = store.workers(now: now).count
            return HealthReport(
                healthy: reachable > 0, status: reachable > 0 ? "ok" : "no router reachable",
                details: ["routers_reachable": "\(reachable)", "workers": "\(workers)"]
            )
        }
        router.get("/v1/models") { _, _ in listModels() }
        CompletionRoutes(
            store: store, routers: routers, connections: connections, access: access, assets: ModelAssetsCache(connections: connections, isLive: { [store] id in store.workers(now: Date().timeIntervalSince1970).contains { $0.workerID == id } }), maxBodyBytes: maxBodyBytes,
            maxRetries: maxRetries, logger: logger
        ).add(to: router)
        router.get("/v1/models/**") { _, context in
            let id = context.parameters.getCatchAll().joined(separator: "/")
            return try await model(id.removingPercentEncoding ?? id)
        }
        return router
    }

    /// OpenAI's model object, with vLLM's `root`, `parent` and `max_model_len`.
    struct ModelObject: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var owned_by = "patchwork"
        var root: String
        var parent: String?
        var max_model_len: Int

        func encode(to encoder: any Encoder) throws {
            // `parent` is null for base models, as vLLM sends it.
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(object, forKey: .object)
            try c.encode(created, forKey: .created)
            try c.encode(owned_by, forKey: .owned_by)
            try c.encode(root, forKey: .root)
            try c.encode(parent, forKey: .parent)
            try c.encode(max_model_len, forKey: .max_model_len)
        }

        enum CodingKeys: String, CodingKey { case id, object, created, owned_by, root, parent, max_model_len }
    }

    /// The models the request's key may use (all without keys): another tenant's adapter is
    /// never listed, and asked for by name it does not exist.
    private func catalog(now: Double) -> [ModelObject] {
        let grant = RequestAccess.grant
        return ModelCatalog(workers: store.workers(now: now)).entries.filter { grant?.allows($0.id) ?? true }.map { entry in
            ModelObject(
                id: entry.id, created: store.firstSeen(entry.id, now: now), root: entry.root, parent: entry.parent?.rawValue,
                max_model_len: entry.contextLength
            )
        }
    }

    func listModels() -> Response {
        struct ModelList: Encodable { var object = "list"; var data: [ModelObject] }
        return .json(ModelList(data: catalog(now: Date().timeIntervalSince1970)), status: .ok)
    }

    /// One model; on a miss the routers are asked for their views first (it may be new).
    func model(_ id: String) async throws -> Response {
        if let grant = RequestAccess.grant, !grant.allows(id) { throw OpenAIError.modelNotFound(id) }
        if let object = catalog(now: Date().timeIntervalSince1970).first(where: { $0.id == id }) { return .json(object, status: .ok) }
        await routers.refresh()
        guard let object = catalog(now: Date().timeIntervalSince1970).first(where: { $0.id == id }) else {
            throw OpenAIError.modelNotFound(id)
        }
        return .json(object, status: .ok)
    }
}
