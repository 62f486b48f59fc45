/// A frontend asks a router which worker should serve a request.
public struct RouteRequest: Codable, Sendable, Equatable {
    public var requestID: RequestID
    /// The base model's served name.
    public var model: ModelName
    /// The adapter, or nil for the base model.
    public var adapter: AdapterName?
    /// The prompt's token ids (the KV-aware router matches them against its prefix index).
    public var promptIDs: [Int]
    /// Workers not to choose (they failed this request already).
    public var excluding: [WorkerID]

    public init(requestID: RequestID, model: ModelName, adapter: AdapterName?, promptIDs: [Int], excluding: [WorkerID]) {
        self.requestID = requestID
        self.model = model
        self.adapter = adapter
        self.promptIDs = promptIDs
        self.excluding = excluding
    }
}

/// The router's answer: a worker, or why there is none.
public struct RouteDecision: Codable, Sendable, Equatable {
    /// Why no worker was chosen.
    public enum Refusal: String, Codable, Sendable {
        /// The cluster does not serve this adapter: no live worker holds it and its source is not
        /// known (it was never loaded, or was unloaded on purpose). The client gets 404.
        case modelNotFound = "model_not_found"
        /// It is served, but no live worker can take the request now. The client gets 503.
        case noWorkerAvailable = "no_worker_available"
    }

    public var requestID: RequestID
    public var workerID: WorkerID?
    public var servingEndpoint: String?
    public var reason: String?
    /// Set when no worker was chosen; nil from routers that predate it (read as unavailable).
    public var refusal: Refusal?
    /// Set when the chosen worker lacks the adapter (no live worker has it): the source it must
    /// load it from before serving.
    public var loadSource: String?

    public init(
        requestID: RequestID, workerID: WorkerID?, servingEndpoint: String?, reason: String?, refusal: Refusal? = nil, loadSource: String? = nil
    ) {
        self.requestID = requestID
        self.workerID = workerID
        self.servingEndpoint = servingEndpoint
        self.reason = reason
        self.refusal = refusal
        self.loadSource = loadSource
    }
}
