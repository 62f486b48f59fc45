import Foundation
import Logging
import PatchworkAdapters
import PatchworkCore
import PatchworkHTTP
import PatchworkVLLM
import Synchronization

/// The worker's engine when it fronts a vLLM server (`--engine vllm`): requests stream from
/// vLLM's `/v1/completions` with the prompt as token ids, adapters validated here are loaded
/// into it by folder, and its `/metrics` give the load the routers see.
///
/// Each running request holds a thread of its own, blocked on its stream (vLLM paces it); a
/// cancel makes the stream's next callback close the connection, which makes vLLM abort it.
/// A poller reads `/metrics` every `pollInterval` (1 s: vLLM renders the page in Python, on the
/// CPU it computes with, and the routers count the work they route meanwhile): while vLLM does
/// not answer, the engine is unhealthy (the worker leaves the routers) and requests fail at once.
final class VLLMEngine: EngineBackend {
    private let client: VLLMClient
    /// vLLM's name of the base model.
    private let baseModel: String
    private let reply: @Sendable ([UInt8], ServingMessage) -> Void
    private let publisher: KVEventPublisher
    private let relay: VLLMEventRelay?
    private let logger: Logger
    private let pollInterval: Double
    /// `--max-loras`, checked against vLLM's once vLLM reports it.
    private let maxLoras: Int

    private struct State {
        /// Running requests and whether they were cancelled.
        var running: [RequestID: Bool] = [:]
        /// Adapters loaded into vLLM, and their folders (to load them again into a restarted vLLM).
        var adapters: [AdapterName: String] = [:]
        var load = VLLMLoad()
        var healthy = true
        var stopping = false
    }

    private let state = Mutex(State())
    private let stopped = NSCondition()

    init(
        client: VLLMClient, baseModel: String, reply: @escaping @Sendable ([UInt8], ServingMessage) -> Void, publisher: KVEventPublisher,
        relay: VLLMEventRelay?, maxLoras: Int, pollInterval: Double = 1, logger: Logger
    ) {
        self.maxLoras = maxLoras
        self.client = client
        self.baseModel = baseModel
        self.reply = reply
        self.publisher = publisher
        self.relay = relay
        self.pollInterval = pollInterval
        self.logger = logger
    }

    func start() {
        relay?.start()
        let thread = Thread { [self] in poll() }
        thread.name = "vllm-poll"
        thread.start()
    }

    func stop() {
        let requests = state.withLock { state in
            state.stopping = true
            for id in state.running.keys { state.running[id] = true }
            return state.running.count
        }
        relay?.stop()
        stopped.lock()
        stopped.broadcast()
        stopped.unlock()
        if requests > 0 { logger.info("stopping: closing the streams of running requests", metadata: ["requests": "\(requests)"]) }
    }

    func submit(_ request: InferenceRequest, from peer: [UInt8]) {
        let refusal: ServingFailure? = state.withLock { state in
            if state.stopping { return ServingFailure(requestID: request.requestID, code: .shuttingDown, message: "the worker is shutting down") }
            if !state.healthy { return ServingFailure(requestID: request.requestID, code: .internalError, message: "vLLM at \(client.baseURL) does not answer") }
            if let adapter = request.adapter, state.adapters[adapter] == nil {
                return ServingFailure(requestID: request.requestID, code: .unknownAdapter, message: "LoRA adapter '\(adapter)' is not loaded on this worker")
            }
            if state.running[request.requestID] != nil {
                return ServingFailure(requestID: request.requestID, code: .badRequest, message: "request \(request.requestID) is already running")
            }
            state.running[request.requestID] = false
            return nil
        }
        if let refusal { return reply(peer, .failure(refusal)) }
        let thread = Thread { [self] in stream(request, to: peer) }
        thread.name = "vllm-request"
        thread.start()
    }

    func cancel(_ requestID: RequestID) {
        let running = state.withLock { state in
            guard state.running[requestID] != nil else { return false }
            state.running[requestID] = true
            return true
        }
        logger.debug("cancel", metadata: ["request.id": "\(requestID)", "running": "\(running)"])
    }

    func install(_ record: AdapterRecord) async throws(AdapterError) {
        let client = self.client, name = record.name.rawValue, directory = record.directory
        do {
            try await BlockingThread.run("vllm-lora-load") { () throws(VLLMError) in try client.loadAdapter(name: name, path: directory) }
        } catch {
            throw Self.adapterError(error, name: name, logger: logger)
        }
        state.withLock { $0.adapters[record.name] = directory }
        logger.info("adapter loaded into vLLM", metadata: ["adapter.name": "\(name)", "adapter.path": "\(directory)"])
    }

    /// vLLM's refusal of an adapter, as the registry reports it.
    private static func adapterError(_ error: VLLMError, name: String, logger: Logger) -> AdapterError {
        logger.warning("vLLM refused an adapter", metadata: ["adapter.name": "\(name)", "error": "\(error)"])
        switch error.kind {
        case .refused where (400..<500).contains(error.status ?? 0): return AdapterError(.invalidAdapter, "vLLM refused adapter '\(name)': \(error.message)")
        default: return AdapterError(.upstreamFailure, "vLLM could not load adapter '\(name)': \(error.description)")
        }
    }

    func uninstall(_ name: AdapterName) async {
        state.withLock { _ = $0.adapters.removeValue(forKey: name) }
        let client = self.client
        do {
            try await BlockingThread.run("vllm-lora-unload") { () throws(VLLMError) in try client.unloadAdapter(name: name.rawValue) }
        } catch {
            logger.warning("vLLM did not unload an adapter", metadata: ["adapter.name": "\(name)", "error": "\(error)"])
        }
    }

    /// vLLM holds the weights: nothing to hand over.
    func adapterLoaded(_ record: AdapterRecord) {}
    func adapterUnloaded(_ name: AdapterName) {}

    func replayKVEvents(from sequence: Int64, requestID: RequestID, to peer: [UInt8]) {
        reply(peer, .kvEvents(relay?.replay(from: sequence, requestID: requestID) ?? KVEventReplay(requestID: requestID, snapshot: true, batches: [publisher.snapshot(of: [])])))
    }

    var metrics: LoadMetrics {
        state.withLock { state in
            var metrics = LoadMetrics(
                runningRequests: state.load.running, waitingRequests: state.load.waiting,
                kvBlocksUsed: Int((state.load.kvUsage * Double(state.load.kvBlocks ?? 0)).rounded()), kvBlocksTotal: state.load.kvBlocks ?? 0,
                residentAdapters: state.adapters.count
            )
            let running = Set(state.load.runningAdapters), waiting = Set(state.load.waitingAdapters)
            metrics.adapters = state.adapters.keys.sorted { $0.rawValue < $1.rawValue }.map { name in
                AdapterLoad(name: name, tier: .resident, running: running.contains(name.rawValue) ? 1 : 0, waiting: waiting.contains(name.rawValue) ? 1 : 0)
            }
            return metrics
        }
    }

    var isHealthy: Bool { state.withLock { $0.healthy } }

    /// One request's stream, on its own thread.
    private func stream(_ request: InferenceRequest, to peer: [UInt8]) {
        let id = request.requestID
        let translator = Mutex(VLLMStreamTranslator(requestID: id, promptTokens: request.promptIDs.count))
        let body = VLLMCompletionBody(request, model: request.adapter?.rawValue ?? baseModel)
        let deliver: @Sendable ([VLLMStreamTranslator.Output]) -> Void = { [reply] outputs in
            for output in outputs {
                switch output {
                case .chunk(let chunk): reply(peer, .chunk(chunk))
                case .failure(let failure): reply(peer, .failure(failure))
                }
            }
        }
        do {
            try client.streamCompletion(body, isCancelled: { [self] in state.withLock { $0.running[id] ?? true } }) { event in
                deliver(translator.withLock { $0.translate(event) })
            }
            deliver(translator.withLock { $0.ended() })
            logger.debug("vLLM stream ended", metadata: ["request.id": "\(id)"])
        } catch {
            if error.kind == .cancelled { logger.debug("vLLM stream closed: request cancelled", metadata: ["request.id": "\(id)"]) } else {
                logger.warning("vLLM request failed", metadata: ["request.id": "\(id)", "error": "\(error)"])
                reply(peer, .failure(ServingFailure(requestID: id, code: Self.code(of: error), message: error.kind == .refused ? "vLLM: \(error.message)" : error.description)))
            }
        }
        state.withLock { _ = $0.running.removeValue(forKey: id) }
    }

    /// Our failure code for vLLM's refusal of a completion.
    static func code(of error: VLLMError) -> ServingFailure.Code {
        guard error.kind == .refused, let status = error.status else { return .internalError }
        switch status {
        case 404: return .unknownAdapter
        case 400, 422:
            let text = error.message.lowercased()
            return text.contains("context length") || text.contains("max_model_len") || text.contains("maximum context") ? .contextExceeded : .invalidParameters
        default: return .internalError
        }
    }

    /// Reads vLLM's load and health until the engine stops; publishes load reports as they
    /// change; every 10 s, and when vLLM answers again, loads into it the adapters it lacks (a
    /// restarted vLLM has none).
    private func poll() {
        var last: LoadMetrics?
        var lastCheck = Date.distantPast
        var checkedMaxLoras = false
        while !state.withLock({ $0.stopping }) {
            let load: VLLMLoad?
            do { load = VLLMLoad(prometheus: try client.metricsText()) } catch { load = nil }
            let healthy = load != nil
            let changed = state.withLock { state in
                defer { state.healthy = healthy }
                if let load { state.load = load }
                return state.healthy != healthy
            }
            if changed && healthy {
                logger.notice("vLLM answers again", metadata: ["engine.url": "\(client.baseURL)"])
                relay?.engineReturned()
            } else if changed {
                logger.error("vLLM does not answer", metadata: ["engine.url": "\(client.baseURL)"])
            }
            if let theirs = load?.maxLoRAs, !checkedMaxLoras {
                checkedMaxLoras = true
                if theirs != maxLoras {
                    logger.warning("--max-loras differs from vLLM's; the routers place adapters by this worker's", metadata: ["configured": "\(maxLoras)", "vllm": "\(theirs)"])
                }
            }
            if healthy && (changed || Date().timeIntervalSince(lastCheck) >= 10) {
                restoreAdapters()
                lastCheck = Date()
            }
            let current = metrics
            if healthy && current != last {
                publisher.publishLoad(current)
                last = current
            }
            stopped.lock()
            if !state.withLock({ $0.stopping }) { _ = stopped.wait(until: Date().addingTimeInterval(pollInterval)) }
            stopped.unlock()
        }
    }

    /// Loads into vLLM the adapters this worker holds that vLLM does not list.
    private func restoreAdapters() {
        guard let listed = try? Set(client.models().map(\.id)) else { return }
        let missing = state.withLock { $0.adapters.filter { !listed.contains($0.key.rawValue) } }
        for (name, directory) in missing.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            do {
                try client.loadAdapter(name: name.rawValue, path: directory)
                logger.notice("adapter loaded again into vLLM", metadata: ["adapter.name": "\(name)"])
            } catch {
                logger.error("cannot load an adapter again into vLLM", metadata: ["adapter.name": "\(name)", "error": "\(error)"])
            }
        }
    }
}
