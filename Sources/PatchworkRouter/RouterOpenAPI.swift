import PatchworkRuntime

/// The router's system routes as OpenAPI 3.1 (`/openapi.json`).
enum RouterOpenAPI {
    /// - Parameter secured: the router asks for an admin token.
    static func document(secured: Bool) -> OpenAPIDocument {
        let failure = { (description: String) in OpenAPIDocument.json(description, ref: "Failure") }
        return OpenAPIDocument(
            title: "patchwork-router", summary: "The router's view of the cluster", secured: secured,
            paths: [
                "/cluster": ["get": OpenAPIDocument.operation("clusterView", "Live workers, their models, adapters and load", responses: [
                    "200": ["description": "The cluster view", "content": ["application/json": ["schema": ["type": "object", "required": ["routerID", "workers"]]]]],
                    "401": failure("No admin token (with --admin-token-file)"), "403": failure("Another token"),
                ], bearer: true)],
            ],
            schemas: [
                "Failure": [
                    "type": "object", "required": ["status", "message"],
                    "properties": ["status": ["const": "error"], "message": ["type": "string"]],
                ],
            ]
        )
    }
}
