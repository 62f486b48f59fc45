import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Testing

extension EndToEnd {
    @Suite struct KVAwareRouting {
        /// worker-2 holds a long prefix (computed by a request sent straight to it); the router
        /// sends a request sharing that prefix there, although worker-1 wins every tie. Under an
        /// adapter the same tokens are not cached, so that request goes to worker-1.
        @Test func aSharedPrefixGoesToTheWorkerThatHoldsIt() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let first = try await cluster.startWorker(routers: [router])
                let second = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                for worker in [first, second] {
                    #expect(try await EndToEnd.load(worker, name: "qv", uri: EndToEnd.qv).status == 200)
                }
                #expect(await eventually { (try? await EndToEnd.models(frontend))?["qv"] != nil })
                let system = String(repeating: "You are a careful assistant who answers questions about geography. ", count: 8)
                let messages = [["role": "system", "content": system], ["role": "user", "content": "What is the capital of France?"]]

                // The prompt's token ids, as the frontend will compute them (its logprobs echo nothing, so ask a worker's tokenizer).
                let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                let endpoint = try #require((view["workers"] as? [[String: Any]])?.first { $0["workerID"] as? String == second.id }?["servingEndpoint"] as? String)
                let client = try MessageSocket(.dealer, connect: [endpoint])
                defer { client.close() }
                client.send([try ServingMessage.modelAssetsRequest(requestID: requestID("assets")).encoded()])
                var assets: ModelAssets?
                for await frames in client.incoming {
                    if case .modelAssets(_, let a) = try ServingMessage(decoding: frames[0]) { assets = a; break }
                }
                let prompt = try EndToEndTokenizer.chatPrompt(assets: try #require(assets), messages: messages)
                #expect(prompt.count > 96)  // at least 6 full blocks

                // Warm worker-2 directly.
                var sampling = SamplingParameters()
                sampling.temperature = 0
                sampling.maxTokens = 1
                let warm = try await WorkerInference.collect(client, send: .generate(InferenceRequest(
                    requestID: requestID("warm"), promptIDs: prompt, adapter: nil, sampling: sampling
                )), requestID: requestID("warm"))
                #expect(warm.failure == nil)
                // The router has indexed worker-2's blocks once its metric moves.
                #expect(await eventually { ((try? await EndToEnd.metric("patchwork_router_indexed_blocks", port: router.systemPort)) ?? 0) >= 6 })

                func route(_ model: String) async throws -> String? {
                    let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/chat/completions", json: [
                        "model": model, "messages": messages, "max_tokens": 1, "temperature": 0,
                    ])
                    #expect(response.status == 200)
                    return response.headers["x-patchwork-worker"]
                }
                #expect(try await route("SmolLM2-135M-Instruct") == second.id)
                #expect(try await route("qv") == first.id)

                // A restarted router learns the caches again from the workers' snapshots.
                router.process.kill9()
                let restarted = try await cluster.startRouter(controlPort: router.controlPort)
                // Both workers re-register and send their snapshots; the frontend reaches the new router.
                #expect(await eventually(timeout: .seconds(10)) {
                    restarted.process.log.components(separatedBy: "KV index rebuilt from a snapshot").count - 1 >= 2
                })
                #expect(await eventually(timeout: .seconds(5)) {
                    let healthy = (try? await HTTPClient.get(port: frontend.httpPort, path: "/health"))?.status == 200
                    let listed = (try? await EndToEnd.models(frontend))?["qv"] != nil
                    return healthy && listed
                })
                #expect(try await route("SmolLM2-135M-Instruct") == second.id)
                #expect(!frontend.process.log.contains("choosing locally"))
            }
        }
    }
}
