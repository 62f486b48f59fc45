import Foundation
import Hummingbird
import Logging
import Metrics
import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import PatchworkRuntime
import Prometheus

/// Assembles a worker: the model description, the adapter registry, the HTTP surface and the
/// links to the routers.
struct Worker {
    let settings: WorkerSettings
    let card: ModelCard
    let adapters: AdapterRegistry
    let links: RouterLinks
    let serving: ServingEndpoint
    let router: Router<BasicRequestContext>
    let logger: Logger

    init(settings: WorkerSettings, registry: PrometheusCollectorRegistry, logger: Logger) throws {
        let description = try ModelDescription(path: settings.modelPath)
        let card = ModelCard(
            servedModelName: settings.servedModelName ?? Self.defaultName(description: description, path: settings.modelPath),
            architecture: description.architecture, contextLength: description.contextLength, kvBlockSize: settings.blockSize,
            dimensions: description.dimensions, lora: settings.lora, hasChatTemplate: description.chatTemplate != nil
        )
        logger.info("model described", metadata: [
            "model": "\(card.servedModelName)", "model.path": "\(settings.modelPath)", "architecture": "\(card.architecture)",
            "layers": "\(card.dimensions.layers)", "hidden": "\(card.dimensions.hidden)", "context": "\(card.contextLength)",
        ])
        let tokenizer = try Model.tokenizer(path: settings.modelPath)
        serving = try ServingEndpoint(
            listen: settings.listen, advertiseHost: settings.advertiseHost,
            assets: ModelAssets(servedModelName: card.servedModelName, chatTemplate: description.chatTemplate, tokenizer: tokenizer.data),
            logger: logger
        )
        let (changes, changesContinuation) = AsyncStream.makeStream(of: AdapterEvent.self)
        let workerID = settings.workerID
        let adapters = AdapterRegistry(
            enabled: settings.lora.enabled,
            loader: AdapterLoader(validator: AdapterValidator(dimensions: card.dimensions, maxRank: settings.lora.maxRank)),
            logger: logger,
            clock: { Date().timeIntervalSince1970 },
            onChange: { kind, record in
                changesContinuation.yield(AdapterEvent(workerID: workerID, kind: kind, adapter: record.summary))
            }
        )
        self.settings = settings
        self.card = card
        self.adapters = adapters
        self.logger = logger
        links = RouterLinks(
            settings: settings, card: card, servingEndpoint: serving.advertised, adapters: adapters, changes: changes, logger: logger
        )
        let router = Router()
        router.addSystemRoutes(registry: registry) { [links] in
            let connected = await links.connectedRouters
            return HealthReport(
                healthy: true, status: "ok",
                details: ["worker_id": "\(workerID)", "model": card.servedModelName, "routers_connected": "\(connected)/\(settings.routers.count)"]
            )
        }
        LoRARoutes(adapters: adapters, logger: logger).add(to: router)
        self.router = router
    }

    func run() async throws {
        let links = self.links, settings = self.settings
        try await ProcessRunner.run(
            router: router, host: settings.systemHost, port: settings.systemPort, services: [serving, links], logger: logger,
            onListening: { port in links.httpReady(url: "http://\(settings.advertiseHost):\(port)") }
        )
    }

    /// The model's own name, else its file or directory name without extension.
    static func defaultName(description: ModelDescription, path: String) -> String {
        if let name = description.name, !name.isEmpty { return name }
        let last = (path as NSString).lastPathComponent
        return last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last
    }
}
