import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// The official `openai` Python client against frontend → router → worker.
    @Suite struct OpenAIClient {
        static var python: String { TestPaths.python }

        @Test func theOfficialClientWorksUnchanged() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                // Exact f32 numerics on both sides: with int8 activations a prompt served after
                // its prefix was cached (other chunks, other float order) may part at a near-tie.
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--dequantize"])
                let frontend = try await cluster.startFrontend(routers: [router])
                let adapter = TestPaths.adapter("smollm2-qkvo-peft").path
                #expect(try await EndToEnd.load(worker, name: "peft", uri: "file://" + adapter).status == 200)
                #expect(await eventually { (try? await EndToEnd.models(frontend))?["peft"] != nil })
                // What the engine alone answers with the adapter, to compare with the whole stack.
                let generate = try await ProgramRun.run(TestPaths.binaries.appendingPathComponent("patchwork-worker").path, [
                    "generate", "--model", TestPaths.model.path, "--lora", "peft=\(adapter)", "--adapter", "peft",
                    "--prompt", "What is the capital of France?", "--chat", "--max-tokens", "12", "--json", "--dequantize",
                ])
                #expect(generate.status == 0)
                let expected = try #require(
                    (try JSONSerialization.jsonObject(with: Data(generate.output.split(separator: "\n").last!.utf8)) as? [String: Any])?["text"] as? String
                )
                let checks = try await ProgramRun.run(Self.python, [
                    TestPaths.fixtures.deletingLastPathComponent().appendingPathComponent("EndToEndTests/openai_client_checks.py").path,
                    "http://127.0.0.1:\(frontend.httpPort)", "http://127.0.0.1:\(router.systemPort)", "peft", expected,
                ])
                print(checks.output)
                #expect(checks.status == 0, "\(checks.output)")
                #expect(checks.output.contains("all checks passed"))
                // Every completion's worker was chosen by the router.
                #expect((try await EndToEnd.metric("patchwork_router_route_decisions_total", port: router.systemPort) ?? 0) >= 20)
                #expect(!frontend.process.log.contains("choosing locally"))
            }
        }

        @Test func aKnownModelWithoutLiveWorkersIs503() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "0.2"])
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await EndToEnd.models(frontend)["SmolLM2-135M-Instruct"] != nil)
                worker.process.kill9()
                #expect(await eventually(timeout: .seconds(5)) { (try? await EndToEnd.models(frontend))?.isEmpty == true })
                let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/chat/completions", json: [
                    "model": "SmolLM2-135M-Instruct", "messages": [["role": "user", "content": "hi"]],
                ])
                #expect(response.status == 503)
                #expect((try response.json()["error"] as? [String: Any])?["code"] as? String == "no_worker_available")
            }
        }
    }
}

extension EndToEnd.OpenAIClient {
    /// A router, two workers with fast heartbeats (dead after 0.6 s of silence) and a frontend,
    /// once the router lists both workers.
    static func twoWorkersAndAFrontend(_ cluster: Cluster) async throws -> ([Cluster.Worker], Cluster.Frontend) {
        let router = try await cluster.startRouter()
        let workers = [
            try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "0.2"]),
            try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "0.2"]),
        ]
        let frontend = try await cluster.startFrontend(routers: [router])
        try #require(await eventually { ((try? await HTTPClient.get(port: router.systemPort, path: "/cluster").json())?["workers"] as? [Any])?.count == 2 })
        return (workers, frontend)
    }

    /// Requests on a worker that dies move to the other one: none is lost.
    @Test func killingAWorkerUnderLoadLosesNoUnstreamedRequest() async throws {
        try await withCluster { cluster in
            let (workers, frontend) = try await Self.twoWorkersAndAFrontend(cluster)
            let body = try JSONSerialization.data(withJSONObject: [
                "model": "SmolLM2-135M-Instruct", "messages": [["role": "user", "content": "What is the capital of France?"]],
                "max_tokens": 24, "temperature": 0, "ignore_eos": true,
            ] as [String: Any])
            let results = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let response = try await HTTPClient.request("POST", port: frontend.httpPort, path: "/v1/chat/completions", body: body, timeout: 120)
                        return (response.status, response.headers["x-patchwork-worker"])
                    }
                }
                // Let requests reach both workers, then kill one.
                try await Task.sleep(for: .milliseconds(400))
                workers[0].process.kill9()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 8)
            #expect(results.allSatisfy { $0.0 == 200 }, "\(results)")
            #expect(frontend.process.log.contains("worker lost; retrying"))
        }
    }
}

extension EndToEnd.OpenAIClient {
    /// The demo adapters change the answers visibly, through the whole stack.
    @Test func demoAdaptersChangeTheAnswers() async throws {
        try await withCluster { cluster in
            let router = try await cluster.startRouter()
            let worker = try await cluster.startWorker(routers: [router])
            let frontend = try await cluster.startFrontend(routers: [router])
            let examples = TestPaths.fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples/adapters")
            for name in ["uppercase", "ahoy"] {
                #expect(try await EndToEnd.load(worker, name: name, uri: "file://" + examples.appendingPathComponent(name).path).status == 200)
            }
            #expect(await eventually { (try? await EndToEnd.models(frontend))?.count == 3 })
            func answer(_ model: String) async throws -> String {
                let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/chat/completions", json: [
                    "model": model, "messages": [["role": "user", "content": "What is the capital of France?"]], "max_tokens": 24, "temperature": 0,
                ])
                let choices = try response.json()["choices"] as? [[String: Any]]
                return (choices?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
            }
            let base = try await answer("SmolLM2-135M-Instruct")
            let upper = try await answer("uppercase")
            let ahoy = try await answer("ahoy")
            // The bundled Q4_1 file answers "L'Étoile, …" with int8 activations, as llama.cpp
            // does on it; its exact function answers "The capital of France is Paris." (a near
            // tie of the first token). Either way the adapters change the answer.
            #expect(!base.isEmpty && base != upper && base != ahoy, "\(base)")
            #expect(upper.contains("PARIS") && upper == upper.uppercased(), "\(upper)")
            #expect(ahoy.hasPrefix("Ahoy!"), "\(ahoy)")
        }
    }
}

extension EndToEnd.OpenAIClient {
    /// The first request of a frontend fetches the model's tokenizer from a worker. When that
    /// worker freezes (SIGSTOP), the request is served by another worker within seconds; it does
    /// not wait on the frozen one.
    @Test func aFrozenWorkerDoesNotHoldTheFirstRequest() async throws {
        try await withCluster { cluster in
            let (workers, frontend) = try await Self.twoWorkersAndAFrontend(cluster)
            // Both idle: the frontend asks the lowest worker id for the tokenizer.
            let frozen = workers.min { $0.id < $1.id }!
            frozen.process.pause()
            let started = ContinuousClock.now
            let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: [
                "model": "SmolLM2-135M-Instruct", "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0,
            ])
            frozen.process.resume()
            try #require(response.status == 200, "\(response.text)")
            #expect(response.headers["x-patchwork-worker"] != frozen.id)
            try #require(ContinuousClock.now - started < .seconds(8))
        }
    }
}
