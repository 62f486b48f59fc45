import Foundation
import Hummingbird
import Logging
import Metrics
import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import PatchworkMessaging
import PatchworkRuntime
import PatchworkTokenizer
import Prometheus
import Synchronization

/// Assembles a worker: the model description, the adapter registry, the HTTP surface and the
/// links to the routers.
struct Worker {
    let settings: WorkerSettings
    let card: ModelCard
    let adapters: AdapterRegistry
    let links: RouterLinks
    let serving: ServingEndpoint
    let engine: any EngineBackend
    let router: Router<BasicRequestContext>
    let logger: Logger

    init(settings: WorkerSettings, registry: PrometheusCollectorRegistry, logger: Logger) throws {
        let publisher = KVEventPublisher(workerID: settings.workerID, logger: logger)
        let (socket, advertised) = try ServingEndpoint.bind(listen: settings.listen, advertiseHost: settings.advertiseHost, logger: logger)
        let reply: @Sendable ([UInt8], ServingMessage) -> Void = { peer, message in
            do { socket.send([peer, try message.encoded()]) } catch { logger.error("cannot encode a reply", metadata: ["error": "\(error)"]) }
        }
        let setup: EngineSetup
        switch settings.engine {
        case .patchwork: setup = try Self.nativeEngine(settings: settings, reply: reply, publisher: publisher, logger: logger)
        case .vllm(let vllm): setup = try Self.vllmEngine(settings: settings, vllm: vllm, reply: reply, publisher: publisher, logger: logger)
        }
        let card = setup.card, engine = setup.engine
        self.engine = engine
        let workerID = settings.workerID
        let listing = AdapterListing()
        let links = RouterLinks(
            settings: settings, card: card, servingEndpoint: advertised, listing: listing,
            metrics: { engine.metrics }, isHealthy: { engine.isHealthy }, onAcknowledged: { router, eventsPort in publisher.attach(Endpoint(host: router.host, port: eventsPort).description) },
            logger: logger
        )
        self.links = links
        var cache: AdapterCache?
        if settings.lora.enabled {
            let created = AdapterCache(settings: settings.cache, environment: ProcessInfo.processInfo.environment, logger: logger)
            try created.prepare()
            cache = created
        }
        let adapters = AdapterRegistry(
            enabled: settings.lora.enabled,
            loader: AdapterLoader(validator: AdapterValidator(dimensions: card.dimensions, maxRank: settings.lora.maxRank)),
            policy: settings.sourcePolicy, cache: cache,
            logger: logger,
            clock: { Date().timeIntervalSince1970 },
            install: { record throws(AdapterError) in try await engine.install(record) },
            uninstall: { record in await engine.uninstall(record.name) },
            onChange: { kind, record in
                // The engine gets the weights; the routers hear of the change.
                if kind == .loaded { engine.adapterLoaded(record) } else { engine.adapterUnloaded(record.name) }
                listing.apply(kind, record.summary)
                links.announce(kind, record.summary)
            }
        )
        serving = try ServingEndpoint(
            socket: socket, assets: setup.assets, engine: engine, adapters: adapters, logger: logger
        )
        self.settings = settings
        self.card = card
        self.adapters = adapters
        self.logger = logger
        let router = Router()
        router.addOpenAPI(WorkerOpenAPI.document(secured: settings.adminToken != nil, schemes: settings.sourcePolicy.allowedSchemes))
        if let token = settings.adminToken { router.add(middleware: AdminTokenMiddleware(token: token)) }
        router.addSystemRoutes(registry: registry) {
            let connected = links.connectedRouters
            let healthy = engine.isHealthy
            return HealthReport(
                healthy: healthy, status: healthy ? "ok" : "engine unreachable",
                details: ["worker_id": "\(workerID)", "model": card.servedModelName.rawValue, "routers_connected": "\(connected)/\(settings.routers.count)"]
            )
        }
        LoRARoutes(adapters: adapters, routersApplied: { await links.waitUntilRoutersApplied() }, logger: logger).add(to: router)
        self.router = router
    }

    func run() async throws {
        let links = self.links, settings = self.settings
        try await ProcessRunner.run(
            router: router, host: settings.systemHost, port: settings.systemPort, services: [serving, links], logger: logger,
            onListening: { port in links.httpReady(url: "http://\(settings.advertiseHost):\(port)") }
        )
    }

}
