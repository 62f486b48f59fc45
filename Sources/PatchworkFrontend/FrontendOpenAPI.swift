import PatchworkRuntime

/// The frontend's routes as OpenAPI 3.1 (`/openapi.json`): OpenAI's API as Patchwork serves it.
enum FrontendOpenAPI {
    static let model = "SmolLM2-135M-Instruct"

    /// - Parameter secured: the frontend asks for API keys.
    static func document(secured: Bool) -> OpenAPIDocument {
        let errors: [String: Any] = [
            "400": OpenAPIDocument.json("Invalid request; the error names the parameter", ref: "Error"),
            "401": OpenAPIDocument.json("Missing or unknown API key (with --api-keys)", ref: "Error"),
            "404": OpenAPIDocument.json("No such model, or one the key may not use", ref: "Error"),
            "413": OpenAPIDocument.json("Request body too large", ref: "Error"),
            "429": OpenAPIDocument.json("A limit of the key was reached; Retry-After says when to try again", ref: "Error"),
            "503": OpenAPIDocument.json("No live worker serves the model right now", ref: "Error"),
        ]
        func completion(_ id: String, _ summary: String, request: String, response: String, example: [String: Any]) -> [String: Any] {
            var responses = errors
            responses["200"] = [
                "description": "The completion; with `stream: true`, server-sent events of chunks ending in `data: [DONE]`",
                "content": [
                    "application/json": ["schema": ["$ref": "#/components/schemas/\(response)"]],
                    "text/event-stream": ["schema": [
                        "description": "Each event's data is a chunk object as JSON, and `[DONE]` last",
                        "type": "object", "required": ["data"], "properties": ["data": ["type": "string"], "event": ["type": "string"]],
                    ]],
                ],
            ]
            return ["post": OpenAPIDocument.operation(id, summary, body: OpenAPIDocument.body(ref: request, example: example), responses: responses, bearer: true)]
        }
        let sampling: [String: Any] = [
            "model": ["type": "string", "minLength": 1],
            "max_tokens": ["type": ["integer", "null"], "minimum": 1], "max_completion_tokens": ["type": ["integer", "null"], "minimum": 1],
            "temperature": ["type": ["number", "null"], "minimum": 0, "maximum": 2], "top_p": ["type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1],
            "top_k": ["type": ["integer", "null"]], "min_p": ["type": ["number", "null"], "minimum": 0, "maximum": 1],
            "presence_penalty": ["type": ["number", "null"], "minimum": -2, "maximum": 2], "frequency_penalty": ["type": ["number", "null"], "minimum": -2, "maximum": 2],
            "repetition_penalty": ["type": ["number", "null"], "exclusiveMinimum": 0], "seed": ["type": ["integer", "null"]],
            "ignore_eos": ["type": ["boolean", "null"]], "n": ["type": ["integer", "null"], "minimum": 1, "maximum": 16],
            "stop": ["oneOf": [["type": "string"], ["type": "array", "items": ["type": "string"]], ["type": "null"]]],
            "stream": ["type": ["boolean", "null"]],
            "stream_options": ["type": ["object", "null"], "properties": ["include_usage": ["type": "boolean"]]],
            "user": ["type": ["string", "null"]],
        ]
        // As OpenAI checks them: stream_options only when streaming; alternatives only with logprobs.
        let streamOptionsNeedStream: [String: Any] = [
            "if": ["required": ["stream_options"], "properties": ["stream_options": ["type": "object"]]],
            "then": ["required": ["stream"], "properties": ["stream": ["const": true]]],
        ]
        let alternativesNeedLogprobs: [String: Any] = [
            "if": ["required": ["top_logprobs"], "properties": ["top_logprobs": ["type": "integer", "minimum": 1]]],
            "then": ["required": ["logprobs"], "properties": ["logprobs": ["const": true]]],
        ]
        let usage: [String: Any] = [
            "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": ["prompt_tokens": ["type": "integer"], "completion_tokens": ["type": "integer"], "total_tokens": ["type": "integer"]],
        ]
        let schemas: [String: Any] = [
            "Error": [
                "type": "object", "required": ["error"],
                "properties": ["error": [
                    "type": "object", "required": ["message", "type", "param", "code"],
                    "properties": ["message": ["type": "string"], "type": ["type": "string"], "param": ["type": ["string", "null"]], "code": ["type": ["string", "null"]]],
                ]],
            ],
            "Model": [
                "type": "object", "required": ["id", "object", "created", "owned_by", "root", "parent", "max_model_len"],
                "properties": [
                    "id": ["type": "string"], "object": ["const": "model"], "created": ["type": "integer"], "owned_by": ["type": "string"],
                    "root": ["type": "string"], "parent": ["type": ["string", "null"]], "max_model_len": ["type": "integer"],
                ],
            ],
            "ModelList": [
                "type": "object", "required": ["object", "data"],
                "properties": ["object": ["const": "list"], "data": ["type": "array", "items": ["$ref": "#/components/schemas/Model"]]],
            ],
            "ChatCompletionRequest": [
                "type": "object", "required": ["model", "messages"], "allOf": [streamOptionsNeedStream, alternativesNeedLogprobs],
                "properties": sampling.merging([
                    "messages": ["type": "array", "minItems": 1, "items": [
                        "type": "object", "required": ["role"],
                        "properties": ["role": ["enum": ["system", "user", "assistant", "tool"]], "content": ["oneOf": [["type": "string"], ["type": "array"], ["type": "null"]]]],
                    ]],
                    "logprobs": ["type": ["boolean", "null"]], "top_logprobs": ["type": ["integer", "null"], "minimum": 0, "maximum": 20],
                ]) { $1 },
            ],
            "CompletionRequest": [
                "type": "object", "required": ["model", "prompt"], "allOf": [streamOptionsNeedStream],
                "properties": sampling.merging([
                    "prompt": ["oneOf": [
                        ["type": "string", "minLength": 1], ["type": "array", "minItems": 1, "items": ["type": "string", "minLength": 1]],
                        ["type": "array", "minItems": 1, "items": ["type": "integer", "minimum": 0]],
                        ["type": "array", "minItems": 1, "items": ["type": "array", "minItems": 1, "items": ["type": "integer", "minimum": 0]]],
                    ]],
                    "logprobs": ["type": ["integer", "null"], "minimum": 0, "maximum": 20], "echo": ["type": ["boolean", "null"]],
                ]) { $1 },
            ],
            "ChatCompletion": [
                "type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
                "properties": [
                    "id": ["type": "string"], "object": ["const": "chat.completion"], "created": ["type": "integer"], "model": ["type": "string"],
                    "choices": ["type": "array", "items": [
                        "type": "object", "required": ["index", "message", "finish_reason"],
                        "properties": [
                            "index": ["type": "integer"], "finish_reason": ["type": ["string", "null"]],
                            "message": ["type": "object", "required": ["role", "content"], "properties": ["role": ["const": "assistant"], "content": ["type": ["string", "null"]]]],
                        ],
                    ]],
                    "usage": usage,
                ],
            ],
            "Completion": [
                "type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
                "properties": [
                    "id": ["type": "string"], "object": ["const": "text_completion"], "created": ["type": "integer"], "model": ["type": "string"],
                    "choices": ["type": "array", "items": [
                        "type": "object", "required": ["index", "text", "finish_reason"],
                        "properties": ["index": ["type": "integer"], "text": ["type": "string"], "finish_reason": ["type": ["string", "null"]]],
                    ]],
                    "usage": usage,
                ],
            ],
        ]
        var modelResponses = errors.filter { ["401", "404"].contains($0.key) }
        modelResponses["200"] = OpenAPIDocument.json("The model", ref: "Model")
        return OpenAPIDocument(
            title: "patchwork-frontend", summary: "OpenAI-compatible API over Patchwork's cluster", secured: secured,
            paths: [
                "/v1/models": ["get": OpenAPIDocument.operation("listModels", "Base models and adapters the key may use", responses: [
                    "200": OpenAPIDocument.json("The models", ref: "ModelList"), "401": errors["401"]!,
                ], bearer: true)],
                "/v1/models/{model}": ["get": OpenAPIDocument.operation(
                    "retrieveModel", "One model or adapter", parameters: [OpenAPIDocument.pathParameter("model", example: model)], responses: modelResponses, bearer: true
                )],
                "/v1/chat/completions": completion("createChatCompletion", "A chat completion", request: "ChatCompletionRequest", response: "ChatCompletion", example: [
                    "model": model, "messages": [["role": "user", "content": "Hi"]], "max_tokens": 2,
                ]),
                "/v1/completions": completion("createCompletion", "A text completion", request: "CompletionRequest", response: "Completion", example: [
                    "model": model, "prompt": "Hello", "max_tokens": 2,
                ]),
            ],
            schemas: schemas
        )
    }
}
