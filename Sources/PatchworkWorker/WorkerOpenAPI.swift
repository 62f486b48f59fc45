import PatchworkRuntime

/// The worker's system routes as OpenAPI 3.1 (`/openapi.json`): the seed's adapter API.
enum WorkerOpenAPI {
    /// An adapter name as ``AdapterName`` takes it: `/`-separated segments, none empty, `.` or
    /// `..`, without control characters or backslashes (64 characters keep it within its 256
    /// bytes).
    static let namePattern = #"^(?:[^\u0000-\u001f\u007f-\u009f\\/.][^\u0000-\u001f\u007f-\u009f\\/]*|\.[^\u0000-\u001f\u007f-\u009f\\/.][^\u0000-\u001f\u007f-\u009f\\/]*|\.\.[^\u0000-\u001f\u007f-\u009f\\/]+)(?:/(?:[^\u0000-\u001f\u007f-\u009f\\/.][^\u0000-\u001f\u007f-\u009f\\/]*|\.[^\u0000-\u001f\u007f-\u009f\\/.][^\u0000-\u001f\u007f-\u009f\\/]*|\.\.[^\u0000-\u001f\u007f-\u009f\\/]+))*$"#

    /// Source URIs of the schemes this worker allows.
    static func sourcePattern(_ schemes: Set<String>) -> String {
        let forms = schemes.sorted().map { scheme in
            scheme == "file" ? #"file:///[^\u0000-\u001f\u007f%]*"# : "\(scheme)://[^\\u0000-\\u001f\\u007f]+"
        }
        return "^(?:" + forms.joined(separator: "|") + ")$"
    }

    /// - Parameters:
    ///   - secured: the worker asks for an admin token.
    ///   - schemes: the adapter sources it allows (`--allowed-sources`).
    static func document(secured: Bool, schemes: Set<String>) -> OpenAPIDocument {
        let name: [String: Any] = ["type": "string", "minLength": 1, "maxLength": 64, "pattern": namePattern]
        let failure = { (description: String) in OpenAPIDocument.json(description, ref: "Failure") }
        let guarded: [String: Any] = ["401": failure("No admin token (with --admin-token-file)"), "403": failure("Another token")]
        let outcome: [String: Any] = [
            "type": "object", "required": ["status", "message", "lora_name", "lora_id"],
            "properties": ["status": ["const": "success"], "message": ["type": "string"], "lora_name": ["type": "string"], "lora_id": ["type": "integer"]],
        ]
        let details: [String: Any] = [
            "type": "object", "required": ["status", "lora_name", "state", "source", "since"],
            "properties": [
                "status": ["const": "success"], "lora_name": ["type": "string"], "lora_id": ["type": "integer"], "state": ["enum": ["loading", "loaded"]],
                "source": ["type": "string"], "since": ["type": "number"], "rank": ["type": "integer"], "alpha": ["type": "number"],
                "digest": ["type": "string"], "progress": ["type": "object"],
            ],
        ]
        return OpenAPIDocument(
            title: "patchwork-worker", summary: "A worker's adapters: load, list, inspect, unload", secured: secured,
            paths: [
                "/v1/loras": [
                    "get": OpenAPIDocument.operation("listAdapters", "The adapters this worker holds", responses: guarded.merging([
                        "200": ["description": "The adapters' names and lora_ids", "content": ["application/json": ["schema": [
                            "type": "object", "required": ["status", "loras", "count"],
                            "properties": ["status": ["const": "success"], "loras": ["type": "object", "additionalProperties": ["type": "integer"]], "count": ["type": "integer"]],
                        ]]]],
                    ]) { $1 }, bearer: true),
                    "post": OpenAPIDocument.operation(
                        "loadAdapter", "Load an adapter from file://, s3:// or hf://; answers when it is loaded",
                        body: OpenAPIDocument.body(ref: "LoadRequest", example: ["lora_name": "example", "source": ["uri": "file:///nonexistent/adapter"]]),
                        responses: guarded.merging([
                            "200": OpenAPIDocument.json("Loaded", ref: "Outcome"), "400": failure("Not a load request"),
                            "404": failure("Nothing at the source"), "409": failure("The name holds other weights, or a load of it runs"),
                            "413": failure("Larger than --max-adapter-bytes"), "422": failure("Not a valid adapter for this model"),
                            "502": failure("The store failed"), "503": failure("No slot or no cache"),
                        ]) { $1 }, bearer: true
                    ),
                ],
                "/v1/loras/{name}": [
                    "get": OpenAPIDocument.operation(
                        "getAdapter", "One adapter, with its download's progress while it loads",
                        parameters: [OpenAPIDocument.pathParameter("name", example: "example", schema: name)],
                        responses: guarded.merging([
                            "200": OpenAPIDocument.json("The adapter", ref: "Details"), "400": failure("Not a valid adapter name"), "404": failure("No such adapter"),
                        ]) { $1 }, bearer: true
                    ),
                    "delete": OpenAPIDocument.operation(
                        "unloadAdapter", "Unload an adapter", parameters: [OpenAPIDocument.pathParameter("name", example: "example", schema: name)],
                        responses: guarded.merging([
                            "200": OpenAPIDocument.json("Unloaded", ref: "Outcome"), "400": failure("Not a valid adapter name"), "404": failure("No such adapter"),
                        ]) { $1 }, bearer: true
                    ),
                ],
            ],
            schemas: [
                "Failure": [
                    "type": "object", "required": ["status", "message"],
                    "properties": ["status": ["const": "error"], "message": ["type": "string"], "lora_name": ["type": ["string", "null"]]],
                ],
                "LoadRequest": [
                    "type": "object", "required": ["lora_name", "source"],
                    "properties": [
                        "lora_name": name, "pinned": ["type": "boolean"],
                        "source": ["type": "object", "required": ["uri"], "properties": ["uri": ["type": "string", "pattern": sourcePattern(schemes)]]],
                    ],
                ],
                "Outcome": outcome,
                "Details": details,
            ]
        )
    }
}
