import Hummingbird

/// Authenticates every `/v1/` request with its `Authorization: Bearer KEY` against the API
/// keys; 401 in OpenAI's shape without a known key. `/health` and `/metrics` stay open.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: AccessControl

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        let authorization = request.headers[.authorization]
        guard let grant = access.grant(authorization: authorization) else {
            let message = authorization == nil
                ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                : "Incorrect API key provided."
            throw OpenAIError(status: .unauthorized, message: message, type: "invalid_request_error", code: "invalid_api_key")
        }
        return try await RequestAccess.$grant.withValue(grant) { try await next(request, context) }
    }
}
