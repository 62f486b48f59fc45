import PatchworkAdapters
import PatchworkCore

/// The engine behind a worker. The serving endpoint, the adapter registry's change hook and the
/// router links talk to it only through this seam, so a second engine (a vLLM server, [W2 4/9])
/// is a second implementation, not a branch; ``EngineLoop`` (Patchwork's own engine on a thread
/// of its own) is the first.
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
    /// An adapter the registry loaded (the backend makes it servable).
    func adapterLoaded(_ record: AdapterRecord)
    func adapterUnloaded(_ name: AdapterName)
    /// Resends KV-event batches from `sequence` on to `peer`, or a snapshot when they are gone.
    func replayKVEvents(from sequence: Int64, requestID: RequestID, to peer: [UInt8])
    /// Load for heartbeats, load reports and `/metrics`.
    var metrics: LoadMetrics { get }
}

extension EngineLoop: EngineBackend {}
