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
        Engine.setThreads(settings.threads)
        let loadStart = ContinuousClock.now
        let loaded = try Model(path: settings.modelPath, quantize: settings.quantize)
        let model = settings.dequantize ? loaded.dequantized() : loaded
        let description = model.description
        let card = ModelCard(
            servedModelName: settings.servedModelName ?? Self.defaultName(description: description, path: settings.modelPath),
            architecture: description.architecture, contextLength: description.contextLength, kvBlockSize: settings.blockSize,
            dimensions: description.dimensions, lora: settings.lora, hasChatTemplate: description.chatTemplate != nil
        )
        let kvCacheType = settings.kvCacheType ?? model.defaultKVCacheType
        let blockBytes = PagedKVStorage.bytesPerBlock(config: model.config, blockSize: settings.blockSize, type: kvCacheType)
        let blockCount = settings.numKVBlocks ?? max(1, settings.kvCacheBytes / blockBytes)
        let scheduler = BatchScheduler(
            transformer: Transformer(config: model.config, weights: model.weights), tokenizer: model.tokenizer,
            blockSize: settings.blockSize, blockCount: blockCount, maxBatchTokens: settings.maxBatchedTokens,
            maxSequences: settings.maxSequences, maxLoRARank: settings.lora.maxRank, modelIdentity: "\(card.servedModelName)@\(settings.modelPath)",
            kvCacheType: kvCacheType
        )
        logger.info("model loaded", metadata: [
            "model": "\(card.servedModelName)", "model.path": "\(settings.modelPath)", "architecture": "\(card.architecture)",
            "layers": "\(card.dimensions.layers)", "context": "\(card.contextLength)", "weights.mb": "\(model.weights.bytes >> 20)",
            "weights.bytes": "\(model.weights.residentBytes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
            "kernels": "\(Engine.kernelPath)", "openblas.core": "\(OpenBLASCore.description)", "threads": "\(settings.threads)",
            "kv.blocks": "\(blockCount)", "kv.mb": "\((blockCount * blockBytes) >> 20)", "kv.dtype": "\(kvCacheType.rawValue)", "load.seconds": "\((ContinuousClock.now - loadStart).seconds)",
        ])

        let publisher = KVEventPublisher(workerID: settings.workerID, logger: logger)
        let (socket, advertised) = try ServingEndpoint.bind(listen: settings.listen, advertiseHost: settings.advertiseHost, logger: logger)
        let engine = EngineLoop(
            scheduler: scheduler, layers: model.config.dimensions.layers, maxLoras: settings.lora.maxLoras, maxCPULoras: settings.maxCPULoras,
            reply: { peer, message in
                do { socket.send([peer, try message.encoded()]) } catch { logger.error("cannot encode a reply", metadata: ["error": "\(error)"]) }
            },
            publisher: publisher, logger: logger
        )
        self.engine = engine
        let workerID = settings.workerID
        let listing = AdapterListing()
        let links = RouterLinks(
            settings: settings, card: card, servingEndpoint: advertised, listing: listing,
            metrics: { engine.metrics }, onAcknowledged: { router, eventsPort in publisher.attach(Endpoint(host: router.host, port: eventsPort).description) },
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
            onChange: { kind, record in
                // The engine gets the weights; the routers hear of the change.
                if kind == .loaded { engine.adapterLoaded(record) } else { engine.adapterUnloaded(record.name) }
                listing.apply(kind, record.summary)
                links.announce(kind, record.summary)
            }
        )
        serving = try ServingEndpoint(
            socket: socket, assets: ModelAssets(servedModelName: card.servedModelName, chatTemplate: description.chatTemplate, tokenizer: model.tokenizer.data),
            engine: engine, adapters: adapters, logger: logger
        )
        self.settings = settings
        self.card = card
        self.adapters = adapters
        self.logger = logger
        let router = Router()
        router.addSystemRoutes(registry: registry) {
            let connected = links.connectedRouters
            return HealthReport(
                healthy: true, status: "ok",
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

    /// The model's own name, else its file or directory name without extension.
    /// The model's own name (GGUF `general.name`), else its file's name without `.gguf`; the
    /// first of them that is a valid name, else `model`.
    static func defaultName(description: ModelDescription, path: String) -> ModelName {
        let last = (path as NSString).lastPathComponent
        let candidates = [description.name, last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last]
        return candidates.lazy.compactMap { $0.flatMap { try? ModelName($0) } }.first ?? (try! ModelName("model"))
    }
}
