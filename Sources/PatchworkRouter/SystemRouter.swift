import Hummingbird
import PatchworkCore
import PatchworkRuntime
import Prometheus

/// The router's HTTP surface: `/health`, `/metrics`, and `/cluster` (the cluster view as JSON,
/// behind the admin token when there is one).
enum SystemRouter {
    static func make(registry: PrometheusCollectorRegistry, service: RouterService, adminToken: AdminToken?) -> Router<BasicRequestContext> {
        let router = Router()
        router.addOpenAPI(RouterOpenAPI.document(secured: adminToken != nil))
        if let adminToken { router.add(middleware: AdminTokenMiddleware(token: adminToken)) }
        router.addSystemRoutes(registry: registry) {
            let view = await service.state.view
            return HealthReport(healthy: true, status: "ok", details: ["workers": "\(view.workers.count)", "router_id": view.routerID])
        }
        router.get("/cluster") { _, _ -> Response in
            .json(await service.state.view, status: .ok)
        }
        return router
    }
}
