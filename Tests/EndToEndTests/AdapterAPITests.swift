import Foundation
import PatchworkCore
import PatchworkTesting
import Testing

extension EndToEnd {
    @Suite struct AdapterAPI {
        @Test func loadListModelsAndUnload() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await EndToEnd.models(frontend) == ["SmolLM2-135M-Instruct": ""])

                let loadedAt = ContinuousClock.now
                let load = try await EndToEnd.load(worker, name: "org/qv", uri: EndToEnd.qv)
                #expect(load.status == 200)
                let expectedID = try AdapterName("org/qv").loraID.rawValue
                let body = try load.json()
                #expect(body["status"] as? String == "success")
                #expect(body["message"] as? String == "LoRA adapter 'org/qv' loaded successfully")
                #expect(body["lora_name"] as? String == "org/qv")
                #expect(body["lora_id"] as? Int == expectedID)

                let list = try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras").json()
                #expect(list["loras"] as? [String: Int] == ["org/qv": expectedID])
                #expect(list["count"] as? Int == 1)

                // Visible through the frontend within a second.
                #expect(await eventually(timeout: .seconds(1)) { (try? await EndToEnd.models(frontend))?["org/qv"] == "SmolLM2-135M-Instruct" })
                print("adapter visible in /v1/models after \(ContinuousClock.now - loadedAt)")

                let details = try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/org/qv").json()
                #expect(details["state"] as? String == "loaded")
                #expect(details["rank"] as? Int == 8 && details["alpha"] as? Double == 16)
                #expect(details["target_modules"] as? [String] == ["q_proj", "v_proj"])
                #expect((details["digest"] as? String)?.hasPrefix("sha256:") == true)
                #expect(details["source"] as? String == EndToEnd.qv)

                let unload = try await HTTPClient.delete(port: worker.systemPort, path: "/v1/loras/org/qv")
                #expect(unload.status == 200)
                #expect(try unload.json()["message"] as? String == "LoRA adapter 'org/qv' unloaded successfully")
                #expect(try unload.json()["lora_id"] as? Int == expectedID)
                #expect(await eventually(timeout: .seconds(1)) { (try? await EndToEnd.models(frontend))?["org/qv"] == nil })
                #expect(try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras").json()["count"] as? Int == 0)
            }
        }

        /// One row per refusal: the request, the status, and words the message must contain.
        @Test func everyErrorHasItsStatusAndSaysWhy() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--max-lora-rank", "8"])
                let port = worker.systemPort
                let broken = try TestPaths.temporaryDirectory("broken")
                try Data(#"{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"use_dora":true}"#.utf8)
                    .write(to: broken.appendingPathComponent("adapter_config.json"))
                try FileManager.default.copyItem(
                    at: TestPaths.adapter("smollm2-qv-r8").appendingPathComponent("adapter_model.safetensors"),
                    to: broken.appendingPathComponent("adapter_model.safetensors")
                )
                #expect(try await EndToEnd.load(worker, name: "taken", uri: EndToEnd.qv).status == 200)

                func post(_ body: String) async throws -> HTTPClient.Response {
                    try await HTTPClient.request("POST", port: port, path: "/v1/loras", body: Data(body.utf8))
                }
                func load(_ name: String, _ uri: String) async throws -> HTTPClient.Response {
                    try await EndToEnd.load(worker, name: name, uri: uri)
                }
                let cases: [(String, HTTPClient.Response, Int, String)] = [
                    ("malformed JSON", try await post("{not json"), 400, "not valid JSON"),
                    ("missing source", try await post(#"{"lora_name":"x"}"#), 400, "missing field 'source'"),
                    ("empty name", try await load("", EndToEnd.qv), 400, "empty"),
                    ("dot-dot name", try await load("../etc", EndToEnd.qv), 400, "'..'"),
                    ("control character", try await load("a\u{1}b", EndToEnd.qv), 400, "control character"),
                    ("long name", try await load(String(repeating: "n", count: 257), EndToEnd.qv), 400, "257 bytes"),
                    ("unknown scheme", try await load("x", "ftp://host/adapter"), 400, "unsupported scheme 'ftp'"),
                    ("missing path", try await load("x", "file:///no/such/adapter"), 404, "does not exist"),
                    ("unknown on delete", try await HTTPClient.delete(port: port, path: "/v1/loras/nobody"), 404, "not loaded"),
                    ("unknown details", try await HTTPClient.get(port: port, path: "/v1/loras/nobody"), 404, "not loaded"),
                    ("other source", try await load("taken", EndToEnd.all), 409, "already loaded from"),
                    ("rank too high", try await load("big", EndToEnd.rslora), 422, "adapter rank 16 exceeds --max-lora-rank 8"),
                    ("unsupported features", try await load("dora", "file://" + broken.path), 422, "DoRA"),
                    ("same source again", try await load("taken", EndToEnd.qv), 200, "already loaded"),
                ]
                for (label, response, status, words) in cases {
                    #expect(response.status == status, "\(label): \(response.text)")
                    let body = try response.json()
                    #expect((body["message"] as? String)?.contains(words) == true, "\(label): \(response.text)")
                    #expect(body["status"] as? String == (status == 200 ? "success" : "error"), "\(label)")
                }
                // Refused loads leave nothing behind.
                #expect(try await HTTPClient.get(port: port, path: "/v1/loras").json()["count"] as? Int == 1)
                #expect(worker.process.isRunning)
                #expect(worker.process.log.contains("adapter request refused"))
            }
        }

        @Test func workerWithoutLoRAAnswers503() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router], enableLoRA: false)
                let response = try await EndToEnd.load(worker, name: "qv", uri: EndToEnd.qv)
                #expect(response.status == 503)
                #expect((try response.json()["message"] as? String)?.contains("--enable-lora") == true)
                #expect(try await HTTPClient.delete(port: worker.systemPort, path: "/v1/loras/qv").status == 503)
            }
        }

        @Test func twentyConcurrentLoadsOfOneNameLoadOnce() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let responses = try await withThrowingTaskGroup(of: HTTPClient.Response.self) { group in
                    for _ in 0..<20 { group.addTask { try await EndToEnd.load(worker, name: "shared", uri: EndToEnd.qv) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(responses.count == 20)
                #expect(responses.allSatisfy { $0.status == 200 })
                #expect(Set(responses.compactMap { try? $0.json()["lora_id"] as? Int }) == [try AdapterName("shared").loraID.rawValue])
                #expect(try await EndToEnd.metric("patchwork_worker_adapter_loads_total", port: worker.systemPort) == 1)
                #expect(worker.process.log.components(separatedBy: "adapter loaded").count - 1 == 1)
            }
        }
    }
}
