import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A process's OpenAPI 3.1 document, served at `/openapi.json`: its own routes plus the
/// `/health`, `/metrics` and `/openapi.json` every process has. Built from plain JSON values so
/// that it reads like the document it produces; a test calls every operation it lists.
public struct OpenAPIDocument: Sendable {
    public let json: Data

    /// - Parameters:
    ///   - paths: OpenAPI path items, by path.
    ///   - schemas: `components.schemas`, by name.
    ///   - security: a bearer scheme named `bearer` is declared; operations opt in.
    public init(title: String, summary: String, paths: [String: Any], schemas: [String: Any] = [:]) {
        let system: [String: Any] = [
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
            "paths": paths.merging(system) { own, _ in own },
            "components": [
                "schemas": schemas.merging(["Health": health]) { own, _ in own },
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
            ],
        ]
        json = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// An operation: its id, summary, responses, and optionally a body and bearer security.
    public static func operation(
        _ id: String, _ summary: String, parameters: [[String: Any]] = [], body: [String: Any]? = nil, responses: [String: Any], bearer: Bool = false
    ) -> [String: Any] {
        var operation: [String: Any] = ["operationId": id, "summary": summary, "responses": responses]
        if !parameters.isEmpty { operation["parameters"] = parameters }
        if let body { operation["requestBody"] = body }
        if bearer { operation["security"] = [["bearer": [String]()]] }
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
    public static func pathParameter(_ name: String, example: String) -> [String: Any] {
        ["name": name, "in": "path", "required": true, "schema": ["type": "string"], "example": example]
    }
}

extension Router where Context == BasicRequestContext {
    /// `GET /openapi.json`.
    public func addOpenAPI(_ document: OpenAPIDocument) {
        get("/openapi.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document.json)))
        }
    }
}
