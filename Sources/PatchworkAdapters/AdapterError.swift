/// Why an adapter operation failed, with the HTTP status the worker answers with.
public struct AdapterError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// 400: malformed request, bad name, unknown source scheme.
        case badRequest
        /// 404: the source path is missing, or no adapter by that name is loaded.
        case notFound
        /// 403: the source refused this worker's credentials, or this worker does not allow the source.
        case forbidden
        /// 409: the name is taken by an adapter from another source.
        case conflict
        /// 413: the adapter is larger than `--max-adapter-bytes`.
        case tooLarge
        /// 422: the adapter's files are not a valid adapter for this model.
        case invalidAdapter
        /// 503: this worker does not serve adapters (`--enable-lora` is off).
        case unavailable
        /// 500: the worker failed (disk error); logged.
        case internalFailure
        /// 502: the source's server failed or could not be reached (after retries).
        case upstreamFailure
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public var httpStatus: Int {
        switch kind {
        case .badRequest: return 400
        case .notFound: return 404
        case .forbidden: return 403
        case .conflict: return 409
        case .tooLarge: return 413
        case .invalidAdapter: return 422
        case .unavailable: return 503
        case .internalFailure: return 500
        case .upstreamFailure: return 502
        }
    }
}
