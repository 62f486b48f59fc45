import HTTPTypes
import Hummingbird
import Logging
import PatchworkRuntime

/// An error as OpenAI's API returns it: `{"error": {"message", "type", "param", "code"}}` with
/// the matching HTTP status.
struct OpenAIError: Error, Encodable, Sendable {
    struct Body: Encodable, Sendable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        func encode(to encoder: any Encoder) throws {
            // OpenAI sends `param` and `code` as null rather than leaving them out.
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            try c.encode(param, forKey: .param)
            try c.encode(code, forKey: .code)
        }

        enum CodingKeys: String, CodingKey { case message, type, param, code }
    }

    var status: HTTPResponse.Status
    var error: Body

    enum CodingKeys: String, CodingKey { case error }

    init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        error = Body(message: message, type: type, param: param, code: code)
    }

    static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func modelNotFound(_ model: String) -> OpenAIError {
        OpenAIError(status: .notFound, message: "The model '\(model)' does not exist", type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static func unavailable(_ message: String) -> OpenAIError {
        OpenAIError(status: .serviceUnavailable, message: message, type: "service_unavailable", code: "no_worker_available")
    }

    /// A failure of ours: the message is logged, the client sees none of it.
    static func internalError(_ detail: String) -> OpenAIError {
        var error = OpenAIError(status: .internalServerError, message: "The server had an error while processing your request", type: "server_error")
        error.detail = detail
        return error
    }

    /// Logged, never sent.
    var detail: String?
    /// Sent with the error (`Retry-After`, `x-ratelimit-*`).
    var headers: [(name: String, value: String)] = []

    var response: Response {
        var response = Response.json(self, status: status)
        for (name, value) in headers { response.headers[HTTPField.Name(name)!] = value }
        return response
    }
}

/// Renders every error leaving a handler in OpenAI's shape: ``OpenAIError`` as it is, Hummingbird's
/// own errors (unknown route, wrong method, body too large) with their status, and anything
/// else as a logged 500 that leaks no internals.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OpenAIError {
            if let detail = error.detail {
                logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "request.id": "\(request.headers[HTTPField.Name("x-request-id")!] ?? "-")", "error": "\(detail)"])
            }
            return error.response
        } catch let error as HTTPError {
            let type = error.status.code >= 500 ? "server_error" : "invalid_request_error"
            let message = error.status == .notFound
                ? "Unknown request URL: \(request.method) \(request.uri.path)"
                : (error.body ?? error.status.reasonPhrase)
            var response = OpenAIError(status: error.status, message: message, type: type, code: error.status == .notFound ? "unknown_url" : nil).response
            // `Allow` of a 405, and any other header the error carries.
            for field in error.headers { response.headers.append(field) }
            return response
        } catch {
            logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            return OpenAIError(status: .internalServerError, message: "The server had an error while processing your request", type: "server_error").response
        }
    }
}
