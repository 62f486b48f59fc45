import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A process's OpenAPI 3.1 document, served at `/openapi.json`: its own routes plus the
/// `/health`, `/metrics` and `/openapi.json` every process has. Built from plain JSON values so
/// that it reads like the document it produces; a test calls every operation it lists.
public struct OpenAPIDocument: Sendable {
    public let json: Data
    /// The methods of each documented path (`{name}` segments stand for the rest of the path).
    public let methods: [String: Set<String>]

    /// - Parameters:
    ///   - paths: OpenAPI path items, by path.
    ///   - schemas: `components.schemas`, by name.
    ///   - secured: the process asks for a bearer token: operations marked `bearer` say so;
    ///     otherwise they are open, as the process serves them.
    public init(title: String, summary: String, secured: Bool, paths: [String: Any], schemas: [String: Any] = [:]) {
        var paths = paths.merging(Self.systemPaths) { own, _ in own }
        for (path, item) in paths {
            guard var item = item as? [String: Any] else { continue }
            for (method, operation) in item {
                guard var operation = operation as? [String: Any], let bearer = operation.removeValue(forKey: "x-bearer") as? Bool else { continue }
                if bearer && secured { operation["security"] = [["bearer": [String]()]] }
                if !secured, var responses = operation["responses"] as? [String: Any] {
                    responses["401"] = nil
                    responses["403"] = nil
                    operation["responses"] = responses
                }
                item[method] = operation
            }
            paths[path] = item
        }
        let allPaths = paths
        methods = allPaths.mapValues { Set((($0 as? [String: Any]) ?? [:]).keys.map { $0.uppercased() }) }
        let health: [String: Any] = [
            "type": "object", "required": ["healthy", "status", "details"],
            "properties": [
                "healthy": ["type": "boolean"], "status": ["type": "string"],
                "details": ["type": "object", "additionalProperties": ["type": "string"]],
            ],
        ]
        let document: [String: Any] = [
            "openapi": "3.1.0",
            "info": ["title": title, "version": "1", "summary": summary],
            "paths": allPaths,
            "components": [
                "schemas": schemas.merging(["Health": health]) { own, _ in own },
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
            ],
        ]
        json = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// `/health`, `/metrics` and `/openapi.json`, which every process serves openly.
    static var systemPaths: [String: Any] {
        [
            "/health": ["get": Self.operation("health", "200 when the process is healthy, 503 when not", responses: [
                "200": Self.json("Healthy", ref: "Health"), "503": Self.json("Not healthy", ref: "Health"),
            ])],
            "/metrics": ["get": Self.operation("metrics", "Prometheus text format", responses: [
                "200": ["description": "Metrics", "content": ["text/plain": ["schema": ["type": "string"]]]],
            ])],
            "/openapi.json": ["get": Self.operation("openapi", "This document", responses: [
                "200": ["description": "OpenAPI 3.1", "content": ["application/json": ["schema": ["type": "object"]]]],
            ])],
        ]
    }

    /// An operation: its id, summary, responses, and optionally a body and bearer security.
    public static func operation(
        _ id: String, _ summary: String, parameters: [[String: Any]] = [], body: [String: Any]? = nil, responses: [String: Any], bearer: Bool = false
    ) -> [String: Any] {
        var operation: [String: Any] = ["operationId": id, "summary": summary, "responses": responses]
        if !parameters.isEmpty { operation["parameters"] = parameters }
        if let body { operation["requestBody"] = body }
        // Declared as security by ``init(title:summary:secured:paths:schemas:)`` when the process has a token.
        operation["x-bearer"] = bearer
        return operation
    }

    /// A JSON response or body whose schema is `#/components/schemas/ref`.
    public static func json(_ description: String, ref: String) -> [String: Any] {
        ["description": description, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(ref)"]]]]
    }

    /// A required JSON request body of schema `ref`, with an example a client would send.
    public static func body(ref: String, example: [String: Any]) -> [String: Any] {
        ["required": true, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(ref)"], "example": example]]]
    }

    /// A path parameter (names may hold `/`: it is the rest of the path).
    public static func pathParameter(_ name: String, example: String, schema: [String: Any] = ["type": "string"]) -> [String: Any] {
        ["name": name, "in": "path", "required": true, "schema": schema, "example": example]
    }
}

extension OpenAPIDocument {
    /// The methods the document lists for `path`, if it lists the path (a `{name}` segment
    /// matches the rest of the path: names may hold `/`).
    public func methods(of path: String) -> Set<String>? {
        if let exact = methods[path] { return exact }
        for (template, methods) in methods {
            guard let brace = template.firstIndex(of: "{") else { continue }
            let prefix = template[..<brace]
            if path.hasPrefix(prefix), path.count > prefix.count { return methods }
        }
        return nil
    }
}

/// 405 with `Allow` for a method the document does not list on a path it lists (a client's
/// mistake, not a missing route).
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    public let document: OpenAPIDocument

    public init(document: OpenAPIDocument) { self.document = document }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = document.methods(of: request.uri.path), !allowed.contains(request.method.rawValue) {
            var headers = HTTPFields()
            headers[.allow] = allowed.sorted().joined(separator: ", ")
            throw HTTPError(.methodNotAllowed, headers: headers, message: "\(request.method.rawValue) is not allowed on \(request.uri.path); use \(allowed.sorted().joined(separator: ", "))")
        }
        return try await next(request, context)
    }
}

extension Router where Context == BasicRequestContext {
    /// `GET /openapi.json`, and 405 for methods it does not list on paths it lists.
    public func addOpenAPI(_ document: OpenAPIDocument) {
        add(middleware: MethodNotAllowedMiddleware(document: document))
        get("/openapi.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document.json)))
        }
    }
}
