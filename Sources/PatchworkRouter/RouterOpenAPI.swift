import PatchworkRuntime

/// The router's system routes as OpenAPI 3.1 (`/openapi.json`).
enum RouterOpenAPI {
    static var document: OpenAPIDocument {
        let failure = { (description: String) in OpenAPIDocument.json(description, ref: "Failure") }
        return OpenAPIDocument(
            title: "patchwork-router", summary: "The router's view of the cluster",
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
