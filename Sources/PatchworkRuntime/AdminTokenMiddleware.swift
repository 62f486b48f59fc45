import HTTPTypes
import Hummingbird

/// The seed's error shape.
private struct ManagementFailure: Encodable {
    var status = "error"
    var message: String
}

/// Guards every route but `/health`, `/metrics` and `/openapi.json` with the ``AdminToken``: 401 without
/// `Authorization: Bearer`, 403 with another token, in the seed's error shape.
public struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    public let token: AdminToken
    /// Routes anyone may read: probes and scrapers hold no token.
    public static var openPaths: Set<String> { ["/health", "/metrics", "/openapi.json"] }

    public init(token: AdminToken) { self.token = token }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        switch token.verdict(authorization: request.headers[.authorization]) {
        case .allowed:
            return try await next(request, context)
        case .missing:
            var response = Response.json(ManagementFailure(message: "this route needs the admin token: Authorization: Bearer TOKEN"), status: .unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        case .wrong:
            return .json(ManagementFailure(message: "the admin token is not this process's"), status: .forbidden)
        }
    }
}
