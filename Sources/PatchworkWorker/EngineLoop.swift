import Foundation
import Logging
import Metrics
import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import Synchronization

/// Runs the worker's ``BatchScheduler`` on a thread of its own: the forward pass computes for
/// tens of milliseconds at a time and must not hold one of the Swift pool's few threads.
/// Requests, cancels and adapter changes arrive from any thread through a queue; each step's
/// tokens go back as chunks through `reply`, and its KV events through `publish`.
///
/// Adapters follow ``AdapterResidency``: a request for an adapter that is not resident is parked
/// while a background job prepares its weights (from host memory, or from disk with its digest
/// checked again); other requests run meanwhile.
final class EngineLoop: @unchecked Sendable {
    // @unchecked Sendable: everything but `condition`'s queue and `currentMetrics` (a Mutex)
    // is touched only by the loop's thread; `commands` and `stopping` only under `condition`.
    private enum Command {
        case submit(peer: [UInt8], InferenceRequest)
        case cancel(RequestID)
        case register(AdapterRecord)
        case unregister(AdapterName)
        case prepared(AdapterName, Result<(ResidentAdapter, Data), AdapterError>)
        case replay(peer: [UInt8], requestID: RequestID, from: Int64)
    }

    private let scheduler: BatchScheduler
    private let layers: Int
    private let reply: @Sendable ([UInt8], ServingMessage) -> Void
    private let publisher: KVEventPublisher
    private let logger: Logger
    private let condition = NSCondition()
    private var commands: [Command] = []
    private var stopping = false
    private var peers: [RequestID: [UInt8]] = [:]
    private let currentMetrics = Mutex(LoadMetrics())
    private let preparation = DispatchQueue(label: "patchwork.adapter-preparation")

    private var residency: AdapterResidency
    private var records: [AdapterName: AdapterRecord] = [:]
    /// Compact weight bytes of resident and host adapters.
    private var hostCopies: [AdapterName: Data] = [:]
    private var resident: [AdapterName: ResidentAdapter] = [:]
    private var gauges = AdapterGauges()
    private let runningGauge = Gauge(label: "patchwork_worker_running_requests")
    private let waitingGauge = Gauge(label: "patchwork_worker_waiting_requests")
    private let kvUsedGauge = Gauge(label: "patchwork_worker_kv_blocks_used")
    private let kvTotalGauge = Gauge(label: "patchwork_worker_kv_blocks_total")
    private let preemptionsCounter = Counter(label: "patchwork_worker_preemptions_total")
    private var preemptionsSeen = 0

    init(
        scheduler: BatchScheduler, layers: Int, maxLoras: Int, maxCPULoras: Int,
        reply: @escaping @Sendable ([UInt8], ServingMessage) -> Void, publisher: KVEventPublisher, logger: Logger
    ) {
        self.scheduler = scheduler
        self.layers = layers
        residency = AdapterResidency(maxResident: maxLoras, maxHost: maxCPULoras)
        self.reply = reply
        self.publisher = publisher
        self.logger = logger
        currentMetrics.withLock { $0.kvBlocksTotal = scheduler.pool.blockCount }
    }

    /// Load for heartbeats and `/metrics`.
    var metrics: LoadMetrics { currentMetrics.withLock { $0 } }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "engine"
        thread.start()
    }

    func submit(_ request: InferenceRequest, from peer: [UInt8]) { enqueue(.submit(peer: peer, request)) }
    func cancel(_ requestID: RequestID) { enqueue(.cancel(requestID)) }
    func adapterLoaded(_ record: AdapterRecord) { enqueue(.register(record)) }
    func adapterUnloaded(_ name: AdapterName) { enqueue(.unregister(name)) }
    /// Resends KV-event batches from `sequence` on, or a snapshot when they are gone.
    func replayKVEvents(from sequence: Int64, requestID: RequestID, to peer: [UInt8]) { enqueue(.replay(peer: peer, requestID: requestID, from: sequence)) }

    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func enqueue(_ command: Command) {
        condition.lock()
        commands.append(command)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while commands.isEmpty && !scheduler.hasWork && !stopping {
                // A load change held back by the rate limit goes out when the limit allows,
                // even if nothing else happens (the last change of a burst must not be lost).
                guard let due = loadPublishDue else { condition.wait(); continue }
                if !condition.wait(until: due) { break }
            }
            let pending = commands
            commands.removeAll()
            let stop = stopping
            condition.unlock()
            if stop { break }
            for command in pending { apply(command) }
            if scheduler.hasWork { runStep() }
            updateMetrics()
            publishLoadIfDue()
        }
        for (requestID, peer) in peers {
            reply(peer, .failure(ServingFailure(requestID: requestID, code: .shuttingDown, message: "the worker is shutting down")))
        }
    }

    // MARK: Commands

    private func apply(_ command: Command) {
        switch command {
        case .submit(let peer, let request):
            carry(residency.submit(request, from: peer))
        case .cancel(let requestID):
            if scheduler.cancel(requestID) { logger.info("request cancelled", metadata: ["request.id": "\(requestID)"]) }
            finished(requestID)
        case .register(let record):
            let name = record.name
            var described = record
            described.weightsData = Data()
            records[name] = described
            hostCopies[name] = record.weightsData
            carry(residency.loaded(name, pinned: record.pinned))
            if residency.tier(of: name) == .disk { hostCopies[name] = nil }
        case .unregister(let name):
            records[name] = nil
            hostCopies[name] = nil
            resident[name] = nil
            carry(residency.unloaded(name))
        case .replay(let peer, let requestID, let from):
            if let batches = publisher.batches(from: from) {
                reply(peer, .kvEvents(KVEventReplay(requestID: requestID, snapshot: false, batches: batches)))
            } else {
                reply(peer, .kvEvents(KVEventReplay(requestID: requestID, snapshot: true, batches: [publisher.snapshot(of: scheduler.pool.snapshot())])))
                logger.info("sent a KV cache snapshot", metadata: ["request.id": "\(requestID)", "blocks": "\(scheduler.pool.cachedBlocks)"])
            }
        case .prepared(let name, let result):
            guard records[name] != nil else { return }
            switch result {
            case .success(let (adapter, data)):
                resident[name] = adapter
                hostCopies[name] = data
                logger.info("adapter resident", metadata: ["adapter.name": "\(name)"])
                carry(residency.prepared(name, failure: nil))
            case .failure(let error):
                logger.error("adapter preparation failed", metadata: ["adapter.name": "\(name)", "error": "\(error.message)"])
                carry(residency.prepared(name, failure: error.message))
            }
        }
    }

    /// Carries out what ``AdapterResidency`` decided.
    private func carry(_ actions: [AdapterResidency.Action]) {
        for action in actions {
            switch action {
            case .start(let entry):
                start(entry.request, from: entry.peer, adapter: entry.request.adapter.flatMap { resident[$0] })
            case .prepare(let name):
                prepare(name)
            case .demote(let demotion):
                resident[demotion.name] = nil
                if demotion.to == .disk { hostCopies[demotion.name] = nil }
                logger.debug("adapter demoted", metadata: ["adapter.name": "\(demotion.name)", "tier": "\(demotion.to.rawValue)"])
            case .fail(let entry, let code, let message):
                fail(entry.request.requestID, peer: entry.peer, code, message)
            }
        }
    }

    /// Builds the compute form off the engine thread; reads the file again when the adapter
    /// went to disk, and refuses it if its contents changed since it was loaded.
    private func prepare(_ name: AdapterName) {
        guard let record = records[name] else { return }
        let copy = hostCopies[name], layers = self.layers
        preparation.async { [self] in
            let result = Result { () throws(AdapterError) -> (ResidentAdapter, Data) in
                var source = record
                if let copy {
                    source.weightsData = copy
                } else {
                    let digest = try AdapterDigest.compute(directory: record.directory, files: [AdapterLoader.configFile, AdapterLoader.weightsFile])
                    guard digest == record.digest else {
                        throw AdapterError(.invalidAdapter, "its files in \(record.directory) changed since it was loaded; load it again")
                    }
                    let path = (record.directory as NSString).appendingPathComponent(AdapterLoader.weightsFile)
                    guard let data = FileManager.default.contents(atPath: path) else { throw AdapterError(.notFound, "cannot read \(path)") }
                    source.weightsData = data
                }
                return (try source.makeResident(layers: layers), source.weightsData)
            }
            enqueue(.prepared(name, result))
        }
    }

    private func start(_ request: InferenceRequest, from peer: [UInt8], adapter: ResidentAdapter?) {
        do {
            try scheduler.submit(GenerationRequest(id: request.requestID, promptIDs: request.promptIDs, parameters: request.sampling, adapter: adapter))
            peers[request.requestID] = peer
            logger.debug("request queued", metadata: ["request.id": "\(request.requestID)", "prompt.tokens": "\(request.promptIDs.count)"])
        } catch {
            let code: ServingFailure.Code = switch error {
            case .invalidParameters: .invalidParameters
            case .invalidPrompt(let reason) where reason.contains("exceeds"): .contextExceeded
            case .invalidPrompt: .badRequest
            }
            fail(request.requestID, peer: peer, code, error.description)
            // Refused: its adapter's slot is free again.
            carry(residency.ended(request.requestID))
        }
    }

    private func fail(_ requestID: RequestID, peer: [UInt8], _ code: ServingFailure.Code, _ message: String) {
        reply(peer, .failure(ServingFailure(requestID: requestID, code: code, message: message)))
    }

    /// A request ended: its adapter's slot may go to a parked request.
    private func finished(_ requestID: RequestID) {
        peers[requestID] = nil
        carry(residency.ended(requestID))
    }

    // MARK: Steps

    private func runStep() {
        for output in scheduler.step() {
            guard let peer = peers[output.requestID] else { continue }
            let tokens = output.token.map { token in
                [InferenceChunk.Token(id: token.id, text: token.text, logprob: token.logprob, top: token.top.map { .init(id: $0.id, logprob: $0.logprob) })]
            } ?? []
            let usage = output.finishReason == nil ? nil : InferenceChunk.Usage(
                promptTokens: output.promptTokens, completionTokens: output.completionTokens, cachedPromptTokens: output.cachedPromptTokens
            )
            reply(peer, .chunk(InferenceChunk(
                requestID: output.requestID, tokens: tokens, finishReason: output.finishReason?.rawValue, usage: usage,
                trailingText: output.trailingText.isEmpty ? nil : output.trailingText
            )))
            if output.finishReason != nil {
                finished(output.requestID)
            }
        }
        let events = scheduler.drainEvents()
        if !events.isEmpty { publisher.publish(events) }
    }

    /// The last load published between heartbeats, and when.
    private var publishedLoad: (metrics: LoadMetrics, at: Date)?
    /// Load reports go out at most this often between heartbeats.
    static let loadPublishInterval = 0.05

    /// When the current load, which differs from the last one published, may go out; nil when
    /// there is nothing to publish.
    private var loadPublishDue: Date? {
        guard let last = publishedLoad else { return Date() }
        return last.metrics == metrics ? nil : last.at.addingTimeInterval(Self.loadPublishInterval)
    }

    /// Routers weigh load when they route; heartbeats come once a second, so changes are also
    /// published on the event socket, at most every 50 ms.
    private func publishLoadIfDue() {
        guard let due = loadPublishDue, due <= Date() else { return }
        let current = metrics
        publishedLoad = (current, Date())
        publisher.publishLoad(current)
    }

    private func updateMetrics() {
        let running = residency.running, parked = residency.parked
        let waiting = Dictionary(grouping: parked.compactMap(\.request.adapter), by: { $0 }).mapValues(\.count)
        let adapters = residency.slots.names.map { name in
            AdapterLoad(name: name, tier: residency.slots.tier(of: name) ?? .disk, running: running[name] ?? 0, waiting: waiting[name] ?? 0)
        }
        let metrics = currentMetrics.withLock { m in
            m.runningRequests = scheduler.runningCount
            m.waitingRequests = scheduler.waitingCount + parked.count
            m.kvBlocksUsed = scheduler.pool.usedBlocks
            m.queuedPrefillTokens = scheduler.queuedPrefillTokens + parked.reduce(0) { $0 + $1.request.promptIDs.count }
            m.decodeBlocks = scheduler.decodeBlocks
            m.residentAdapters = residency.slots.count(.resident)
            m.adapters = adapters
            return m
        }
        runningGauge.record(metrics.runningRequests)
        waitingGauge.record(metrics.waitingRequests)
        kvUsedGauge.record(metrics.kvBlocksUsed)
        kvTotalGauge.record(metrics.kvBlocksTotal)
        if scheduler.preemptions > preemptionsSeen {
            preemptionsCounter.increment(by: scheduler.preemptions - preemptionsSeen)
            preemptionsSeen = scheduler.preemptions
        }
        gauges.record(adapters)
    }
}
