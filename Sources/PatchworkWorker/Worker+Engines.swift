import Foundation
import Logging
import PatchworkCore
import PatchworkEngine
import PatchworkRuntime
import PatchworkTokenizer
import PatchworkVLLM

/// What a worker serves and with which engine: the model card the routers see, the tokenizer
/// and chat template frontends fetch, and the backend that runs requests.
struct EngineSetup {
    var card: ModelCard
    var assets: ModelAssets
    var engine: any EngineBackend
}

extension Worker {
    /// Patchwork's own engine on the model file (`--engine patchwork`, the default).
    static func nativeEngine(
        settings: WorkerSettings, reply: @escaping @Sendable ([UInt8], ServingMessage) -> Void, publisher: KVEventPublisher, logger: Logger
    ) throws -> EngineSetup {
        Engine.setThreads(settings.threads)
        let loadStart = ContinuousClock.now
        let loaded = try Model(path: settings.modelPath, quantize: settings.quantize)
        let model = settings.dequantize ? loaded.dequantized() : loaded
        let description = model.description
        let blockSize = settings.blockSize ?? KVBlock.defaultSize
        // `--max-model-len` caps the context: every sequence, and what the card announces.
        var config = model.config
        config.contextLength = min(config.contextLength, settings.maxModelLen ?? .max)
        let card = ModelCard(
            servedModelName: settings.servedModelName ?? Self.defaultName(description: description, path: settings.modelPath),
            architecture: description.architecture, contextLength: config.contextLength, kvBlockSize: blockSize,
            dimensions: description.dimensions, lora: settings.lora, hasChatTemplate: description.chatTemplate != nil
        )
        let kvCacheType = settings.kvCacheType ?? model.defaultKVCacheType
        let blockBytes = PagedKVStorage.bytesPerBlock(config: model.config, blockSize: blockSize, type: kvCacheType)
        let blockCount = settings.numKVBlocks ?? max(1, settings.kvCacheBytes / blockBytes)
        let scheduler = BatchScheduler(
            transformer: Transformer(config: config, weights: model.weights), tokenizer: model.tokenizer,
            blockSize: blockSize, blockCount: blockCount, maxBatchTokens: settings.maxBatchedTokens,
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
        let engine = EngineLoop(
            scheduler: scheduler, layers: model.config.dimensions.layers, maxLoras: settings.lora.maxLoras, maxCPULoras: settings.maxCPULoras,
            reply: reply, publisher: publisher, logger: logger
        )
        let assets = ModelAssets(servedModelName: card.servedModelName, chatTemplate: description.chatTemplate, tokenizer: model.tokenizer.data)
        return EngineSetup(card: card, assets: assets, engine: engine)
    }

    /// A vLLM server (`--engine vllm`): the worker reads the model's `config.json`, tokenizer and
    /// chat template from the Hugging Face directory vLLM serves, and asks vLLM for its model
    /// name, context length and KV block size. Waits up to `--engine-startup-timeout` for vLLM to
    /// answer (it takes tens of seconds to start).
    static func vllmEngine(
        settings: WorkerSettings, vllm: VLLMSettings, reply: @escaping @Sendable ([UInt8], ServingMessage) -> Void, publisher: KVEventPublisher, logger: Logger
    ) throws -> EngineSetup {
        let client = try VLLMClient(url: vllm.url)
        let description = try ModelDescription(huggingFaceDirectory: settings.modelPath)
        let tokenizer = try Tokenizer(huggingFaceDirectory: settings.modelPath)
        let deadline = Date().addingTimeInterval(vllm.startupTimeout)
        var waited = 0
        while !client.isHealthy() {
            guard Date() < deadline else { throw VLLMError(kind: .unreachable, message: "vLLM at \(vllm.url) did not answer within \(Int(vllm.startupTimeout)) s") }
            if waited % 10 == 0 { logger.info("waiting for vLLM", metadata: ["engine.url": "\(vllm.url)"]) }
            waited += 1
            Thread.sleep(forTimeInterval: 1)
        }
        guard let base = try client.models().first(where: { $0.parent == nil }) else {
            throw VLLMError(kind: .malformed, message: "vLLM at \(vllm.url) lists no base model")
        }
        let load = VLLMLoad(prometheus: try client.metricsText())
        // vLLM's own block size wins: the routers match its KV events in it.
        let blockSize = load.blockSize ?? settings.blockSize ?? 16
        if let configured = settings.blockSize, configured != blockSize {
            logger.warning("--block-size differs from vLLM's; using vLLM's", metadata: ["configured": "\(configured)", "vllm": "\(blockSize)"])
        }
        let card = ModelCard(
            servedModelName: settings.servedModelName ?? (try? ModelName(base.id)) ?? Self.defaultName(description: description, path: settings.modelPath),
            architecture: description.architecture, contextLength: min(base.max_model_len ?? description.contextLength, settings.maxModelLen ?? .max), kvBlockSize: blockSize,
            dimensions: description.dimensions, lora: settings.lora, hasChatTemplate: description.chatTemplate != nil
        )
        logger.info("serving through vLLM", metadata: [
            "model": "\(card.servedModelName)", "vllm.model": "\(base.id)", "engine.url": "\(vllm.url)", "model.path": "\(settings.modelPath)",
            "context": "\(card.contextLength)", "kv.block_size": "\(blockSize)", "kv.blocks": "\(load.kvBlocks ?? 0)",
            "kv_events": "\(vllm.kvEvents ?? "off")",
        ])
        let relay = vllm.kvEvents.map { VLLMEventRelay(events: $0, replay: vllm.kvReplay, publisher: publisher, logger: logger) }
        let engine = VLLMEngine(client: client, baseModel: base.id, reply: reply, publisher: publisher, relay: relay, maxLoras: settings.lora.maxLoras, logger: logger)
        let assets = ModelAssets(servedModelName: card.servedModelName, chatTemplate: description.chatTemplate, tokenizer: tokenizer.data)
        return EngineSetup(card: card, assets: assets, engine: engine)
    }

    /// The model's own name (GGUF `general.name`), else its file's name without `.gguf`; the
    /// first of them that is a valid name, else `model`.
    static func defaultName(description: ModelDescription, path: String) -> ModelName {
        let last = (path as NSString).lastPathComponent
        let candidates = [description.name, last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last]
        return candidates.lazy.compactMap { $0.flatMap { try? ModelName($0) } }.first ?? (try! ModelName("model"))
    }
}
