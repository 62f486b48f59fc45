import PatchworkAdapters
import PatchworkCore

/// The engine behind a worker. The serving endpoint, the adapter registry's hooks and the router
/// links talk to it only through this seam: ``EngineLoop`` (Patchwork's own engine on a thread of
/// its own) and ``VLLMEngine`` (a vLLM server the worker fronts) are its implementations; an
/// SGLang server would be a third.
///
/// Every call returns at once: results go back through the backend's reply channel (chunks and
/// failures to `peer`), KV events through its publisher.
protocol EngineBackend: Sendable {
    func start()
    func stop()
    /// Runs a request; its chunks, or a typed failure, go to `peer`.
    func submit(_ request: InferenceRequest, from peer: [UInt8])
    /// Stops a request and frees what it holds; nothing more is sent for it.
    func cancel(_ requestID: RequestID)
    /// Before a load succeeds: an engine that loads adapters itself takes the validated folder,
    /// and its refusal fails the load.
    func install(_ record: AdapterRecord) async throws(AdapterError)
    /// After an unload: such an engine drops the adapter.
    func uninstall(_ name: AdapterName) async
    /// An adapter the registry loaded (the backend makes it servable).
    func adapterLoaded(_ record: AdapterRecord)
    func adapterUnloaded(_ name: AdapterName)
    /// Resends KV-event batches from `sequence` on to `peer`, or a snapshot when they are gone.
    func replayKVEvents(from sequence: Int64, requestID: RequestID, to peer: [UInt8])
    /// Load for heartbeats, load reports and `/metrics`.
    var metrics: LoadMetrics { get }
    /// Whether the engine can serve: a worker whose engine cannot leaves the routers until it can.
    var isHealthy: Bool { get }
}

extension EngineLoop: EngineBackend {
    /// Patchwork's engine takes an adapter's weights in ``adapterLoaded(_:)``.
    func install(_ record: AdapterRecord) async throws(AdapterError) {}
    func uninstall(_ name: AdapterName) async {}
    /// In the worker's process: serving as long as the worker runs.
    var isHealthy: Bool { true }
}
