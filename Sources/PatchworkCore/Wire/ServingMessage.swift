/// Messages on a worker's serving endpoint (its `--listen` ROUTER socket), each carrying the
/// request id it concerns.
public enum ServingMessage: Sendable, Equatable {
    /// Client → worker: generate; answered by chunks, or a failure.
    case generate(InferenceRequest)
    /// Worker → client: tokens of a running request.
    case chunk(InferenceChunk)
    /// Client → worker: stop a request and free its blocks (a client went away).
    case cancel(requestID: RequestID)
    /// A KV-event subscriber that saw a gap → worker: resend the batches from `fromSequence` on
    /// (a negative number asks for a snapshot).
    case kvEventsRequest(requestID: RequestID, fromSequence: Int64)
    /// Worker → subscriber: the batches asked for, in order; or, when they are no longer kept,
    /// a snapshot: one batch (`AllBlocksCleared`, then every cached block) standing for all
    /// batches up to its sequence number.
    case kvEvents(KVEventReplay)
    /// Client → worker: send the model's tokenizer and chat template.
    case modelAssetsRequest(requestID: RequestID)
    /// Worker → client.
    case modelAssets(requestID: RequestID, ModelAssets)
    /// Worker → client: the request was refused.
    case failure(ServingFailure)

    public var typeName: String {
        switch self {
        case .generate: return "generate"
        case .chunk: return "chunk"
        case .cancel: return "cancel"
        case .kvEventsRequest: return "kv_events_request"
        case .kvEvents: return "kv_events"
        case .modelAssetsRequest: return "model_assets_request"
        case .modelAssets: return "model_assets"
        case .failure: return "failure"
        }
    }

    private struct RequestBody: Codable { var requestID: RequestID }
    private struct ReplayRequestBody: Codable { var requestID: RequestID; var fromSequence: Int64 }
    private struct AssetsBody: Codable { var requestID: RequestID; var assets: ModelAssets }

    public func encoded() throws -> [UInt8] {
        let encoder = MessagePackEncoder()
        let body: MessagePackValue
        switch self {
        case .generate(let request): body = try encoder.encodeValue(request)
        case .chunk(let chunk): body = try encoder.encodeValue(chunk)
        case .cancel(let id): body = try encoder.encodeValue(RequestBody(requestID: id))
        case .kvEventsRequest(let id, let from): body = try encoder.encodeValue(ReplayRequestBody(requestID: id, fromSequence: from))
        case .kvEvents(let replay): body = try encoder.encodeValue(replay)
        case .modelAssetsRequest(let id): body = try encoder.encodeValue(RequestBody(requestID: id))
        case .modelAssets(let id, let assets): body = try encoder.encodeValue(AssetsBody(requestID: id, assets: assets))
        case .failure(let failure): body = try encoder.encodeValue(failure)
        }
        return Envelope.encode(type: typeName, body: body)
    }

    /// The bytes of a `model_assets` reply whose assets were encoded once, in advance (they are
    /// megabytes and never change).
    public static func modelAssetsReply(requestID: RequestID, encodedAssets: MessagePackValue) -> [UInt8] {
        Envelope.encode(type: "model_assets", body: .map([(.string("requestID"), .string(requestID.rawValue)), (.string("assets"), encodedAssets)]))
    }

    public init(decoding bytes: [UInt8]) throws(WireMessageError) {
        let (type, body) = try Envelope.decode(bytes)
        switch type {
        case "generate": self = .generate(try Envelope.body(InferenceRequest.self, body, in: type))
        case "chunk": self = .chunk(try Envelope.body(InferenceChunk.self, body, in: type))
        case "cancel": self = .cancel(requestID: try Envelope.body(RequestBody.self, body, in: type).requestID)
        case "kv_events_request":
            let decoded = try Envelope.body(ReplayRequestBody.self, body, in: type)
            self = .kvEventsRequest(requestID: decoded.requestID, fromSequence: decoded.fromSequence)
        case "kv_events": self = .kvEvents(try Envelope.body(KVEventReplay.self, body, in: type))
        case "model_assets_request": self = .modelAssetsRequest(requestID: try Envelope.body(RequestBody.self, body, in: type).requestID)
        case "model_assets":
            let decoded = try Envelope.body(AssetsBody.self, body, in: type)
            self = .modelAssets(requestID: decoded.requestID, decoded.assets)
        case "failure": self = .failure(try Envelope.body(ServingFailure.self, body, in: type))
        default: throw .unknownType(type)
        }
    }
}

/// A refused serving request: a machine-readable code and a message for people.
public struct ServingFailure: Codable, Sendable, Equatable {
    public enum Code: String, Codable, Sendable {
        case badRequest = "bad_request", unknownAdapter = "unknown_adapter", contextExceeded = "context_exceeded"
        case invalidParameters = "invalid_parameters", internalError = "internal_error", shuttingDown = "shutting_down"
        /// The worker left the cluster (it died) before the request finished.
        case workerLost = "worker_lost"
        /// The worker was asked to load the adapter first and could not.
        case adapterLoadFailed = "adapter_load_failed"
    }

    public var requestID: RequestID?
    public var code: Code
    public var message: String

    public init(requestID: RequestID?, code: Code, message: String) {
        self.requestID = requestID
        self.code = code
        self.message = message
    }
}

/// KV-event batches resent to a subscriber (see ``ServingMessage/kvEvents(_:)``).
public struct KVEventReplay: Codable, Sendable, Equatable {
    public struct Batch: Codable, Sendable, Equatable {
        public var sequence: Int64
        /// A msgpack `EventBatch` in vLLM's format, as published.
        public var payload: [UInt8]
        public init(sequence: Int64, payload: [UInt8]) {
            self.sequence = sequence
            self.payload = payload
        }
    }

    public var requestID: RequestID
    /// True when `batches` holds one snapshot instead of the batches asked for.
    public var snapshot: Bool
    public var batches: [Batch]

    public init(requestID: RequestID, snapshot: Bool, batches: [Batch]) {
        self.requestID = requestID
        self.snapshot = snapshot
        self.batches = batches
    }
}
