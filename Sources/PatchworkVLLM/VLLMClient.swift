import Foundation
import PatchworkHTTP
import Synchronization

/// Why a call to vLLM failed: it could not be reached, or it answered with an error.
public struct VLLMError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No answer: refused connection, timeout, reset.
        case unreachable
        /// An HTTP error status; `status` holds it and `message` vLLM's explanation.
        case refused
        /// The caller cancelled the transfer.
        case cancelled
        /// An answer that is not what vLLM's API sends.
        case malformed
    }

    public var kind: Kind
    public var status: Int?
    public var message: String
    public var description: String { status.map { "vLLM answered \($0): \(message)" } ?? message }

    public init(kind: Kind, status: Int? = nil, message: String) {
        self.kind = kind
        self.status = status
        self.message = message
    }

    /// vLLM's explanation in an error body: `{"error": {"message"}}`, `{"message"}`,
    /// `{"detail"}` (FastAPI), or the text itself.
    static func explanation(_ body: Data) -> String {
        let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        let nested = (json?["error"] as? [String: Any])?["message"] as? String
        let detail = json?["detail"].map { ($0 as? String) ?? "\($0)" }
        let text = nested ?? json?["message"] as? String ?? detail ?? String(decoding: body.prefix(1000), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// vLLM's OpenAI-compatible server, called from a thread that may block (``BlockingThread``):
/// its models, LoRA adapters, metrics and health, and streamed completions.
public struct VLLMClient: Sendable {
    /// `http://host:port`, without a trailing slash.
    public let baseURL: String

    public init(url: String) throws(VLLMError) {
        var trimmed = url
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let parsed = URL(string: trimmed), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil,
              parsed.path.isEmpty, parsed.query == nil
        else { throw VLLMError(kind: .malformed, message: "the engine URL must be http(s)://HOST:PORT, not '\(url)'") }
        baseURL = trimmed
    }

    public struct Model: Decodable, Sendable, Equatable {
        public var id: String
        /// The base model's path for a base model; the adapter's path for an adapter.
        public var root: String?
        /// The base model's id, for an adapter.
        public var parent: String?
        public var max_model_len: Int?
    }

    /// `GET /v1/models`: the base model and the adapters loaded.
    public func models() throws(VLLMError) -> [Model] {
        struct Listing: Decodable { var data: [Model] }
        let body = try call(HTTPRequest(url: baseURL + "/v1/models"), timeout: 10)
        do { return try JSONDecoder().decode(Listing.self, from: body).data } catch {
            throw VLLMError(kind: .malformed, message: "vLLM's /v1/models is not a model list: \(error)")
        }
    }

    /// `POST /v1/load_lora_adapter` of the PEFT folder at `path` under `name`.
    public func loadAdapter(name: String, path: String) throws(VLLMError) {
        _ = try call(Self.post(baseURL + "/v1/load_lora_adapter", ["lora_name": name, "lora_path": path]), timeout: 300)
    }

    /// `POST /v1/unload_lora_adapter`.
    public func unloadAdapter(name: String) throws(VLLMError) {
        _ = try call(Self.post(baseURL + "/v1/unload_lora_adapter", ["lora_name": name]), timeout: 60)
    }

    /// `GET /metrics`: the Prometheus text.
    public func metricsText() throws(VLLMError) -> String {
        String(decoding: try call(HTTPRequest(url: baseURL + "/metrics"), timeout: 10), as: UTF8.self)
    }

    /// `GET /health` answered 200 within `timeout` seconds.
    public func isHealthy(timeout: Double = 2) -> Bool {
        (try? call(HTTPRequest(url: baseURL + "/health"), timeout: timeout)) != nil
    }

    /// Streams a completion: `onEvent` gets each event's data (the last is `[DONE]`) as it
    /// arrives. Returns when the stream ends; `isCancelled` is polled while it runs, and when it
    /// says so the connection is closed, which makes vLLM abort the request.
    public func streamCompletion(
        _ body: VLLMCompletionBody, isCancelled: @escaping @Sendable () -> Bool, onEvent: @escaping @Sendable (String) -> Void
    ) throws(VLLMError) {
        let encoded: Data
        do { encoded = try JSONEncoder().encode(body) } catch { throw VLLMError(kind: .malformed, message: "cannot encode the request: \(error)") }
        let decoder = Mutex(ServerSentEventDecoder())
        let request = HTTPRequest(method: "POST", url: baseURL + "/v1/completions", headers: [("Content-Type", "application/json")], body: encoded)
        let response: HTTPResponse
        do {
            // No stall timeout worth the name: a queued request may see no byte for minutes.
            response = try HTTPTransfer.perform(
                request,
                to: .stream { bytes in
                    guard !isCancelled() else { return false }
                    let events = decoder.withLock { d in Result { () throws(ServerSentEventDecoder.DecodeError) in try d.feed(bytes) } }
                    guard case .success(let list) = events else { return false }
                    list.forEach(onEvent)
                    return true
                },
                limits: TransferLimits(connectTimeout: 10, stallTimeout: 24 * 3600),
                progress: { _, _ in !isCancelled() }
            )
        } catch {
            throw error.kind == .aborted && isCancelled() ? VLLMError(kind: .cancelled, message: "cancelled") : VLLMError(kind: .unreachable, message: "vLLM at \(baseURL): \(error.message)")
        }
        guard response.status < 400 else { throw VLLMError(kind: .refused, status: response.status, message: VLLMError.explanation(response.body)) }
    }

    private static func post(_ url: String, _ fields: [String: String]) -> HTTPRequest {
        HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")], body: try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
    }

    private func call(_ request: HTTPRequest, timeout: Double) throws(VLLMError) -> Data {
        let response: HTTPResponse
        do { response = try HTTPTransfer.perform(request, to: .memory, limits: TransferLimits(connectTimeout: min(timeout, 10), requestTimeout: timeout, maxBodyBytes: 64 << 20)) } catch {
            throw VLLMError(kind: .unreachable, message: "vLLM at \(baseURL): \(error.message)")
        }
        guard response.status < 400 else { throw VLLMError(kind: .refused, status: response.status, message: VLLMError.explanation(response.body)) }
        return response.body
    }
}
