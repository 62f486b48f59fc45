import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Synchronization
import Testing

extension EndToEnd {
    @Suite struct AdapterPlacement {
        /// Requests for an adapter go to the worker holding it (adapters do not scatter); when
        /// that worker dies, the next request is routed to another worker, which loads the adapter
        /// from its known source first. An adapter unloaded on purpose is not brought back.
        @Test func anAdapterWhoseWorkerDiedIsLoadedWhereTheRouterSendsIt() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let first = try await cluster.startWorker(routers: [router])
                let second = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await EndToEnd.load(second, name: "qv", uri: EndToEnd.qv).status == 200)
                #expect(await eventually { (try? await EndToEnd.models(frontend))?["qv"] != nil })

                func complete(_ model: String) async throws -> HTTPClient.Response {
                    try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: [
                        "model": model, "prompt": "The capital of France is", "max_tokens": 3, "temperature": 0,
                    ])
                }
                // worker-1 wins ties, but only worker-2 has the adapter.
                for _ in 0..<3 {
                    let response = try await complete("qv")
                    #expect(response.status == 200 && response.headers["x-patchwork-worker"] == second.id)
                }
                let reference = try await complete("qv").json()["choices"] as? [[String: Any]]

                second.process.kill9()
                #expect(await eventually(timeout: .seconds(5)) { (try? await EndToEnd.models(frontend))?["qv"] == nil })
                let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                #expect((view["loadable"] as? [[String: Any]])?.first?["name"] as? String == "qv")

                let moved = try await complete("qv")
                #expect(moved.status == 200, "\(moved.text)")
                #expect(moved.headers["x-patchwork-worker"] == first.id)
                // The same adapter, the same greedy text.
                let text = (try moved.json()["choices"] as? [[String: Any]])?.first?["text"] as? String
                #expect(text != nil && text == reference?.first?["text"] as? String)
                let listed = try await HTTPClient.get(port: first.systemPort, path: "/v1/loras").json()["loras"] as? [String: Int]
                #expect(listed?["qv"] != nil)
                #expect(first.process.log.contains("loading adapter on demand"))
                #expect(try await EndToEnd.metric("patchwork_router_on_demand_placements_total", port: router.systemPort) == 1)
                #expect(await eventually { (try? await EndToEnd.models(frontend))?["qv"] != nil })

                // Unloaded on purpose from its last worker: not loaded again on demand.
                #expect(try await HTTPClient.delete(port: first.systemPort, path: "/v1/loras/qv").status == 200)
                #expect(await eventually(timeout: .seconds(3)) {
                    let loadable = (try? await HTTPClient.get(port: router.systemPort, path: "/cluster").json())?["loadable"] as? [[String: Any]]
                    return loadable?.isEmpty == true
                })
                let refused = try await complete("qv")
                #expect(refused.status == 404, "\(refused.text)")
                #expect((try refused.json()["error"] as? [String: Any])?["code"] as? String == "model_not_found")
                #expect(try await HTTPClient.get(port: first.systemPort, path: "/v1/loras").json()["count"] as? Int == 0)
            }
        }

        /// When the adapter's source is gone by the time another worker must load it, the client
        /// gets a 503 that says which adapter, from where and why.
        @Test func aFailedOnDemandLoadIsAClear503() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                _ = try await cluster.startWorker(routers: [router])
                let second = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                let copy = cluster.logDirectory.appendingPathComponent("qv-copy")
                try FileManager.default.copyItem(at: TestPaths.adapter("smollm2-qv-r8"), to: copy)
                #expect(try await EndToEnd.load(second, name: "qv", uri: "file://" + copy.path).status == 200)
                #expect(await eventually { (try? await EndToEnd.models(frontend))?["qv"] != nil })
                second.process.kill9()
                try FileManager.default.removeItem(at: copy)
                #expect(await eventually(timeout: .seconds(5)) { (try? await EndToEnd.models(frontend))?["qv"] == nil })
                let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: [
                    "model": "qv", "prompt": "Hello", "max_tokens": 2,
                ])
                #expect(response.status == 503)
                let error = try response.json()["error"] as? [String: Any]
                let message = error?["message"] as? String ?? ""
                #expect(message.contains("adapter 'qv' could not be loaded from file://\(copy.path)") && message.contains("does not exist"), "\(message)")
            }
        }

        /// Approximate mode (`--no-kv-events`): the router indexes its own decisions for
        /// `--approximate-ttl` seconds and ignores the workers' events.
        @Test func approximateModeRoutesByTheRoutersOwnDecisions() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter(arguments: ["--no-kv-events", "--approximate-ttl", "3"])
                let first = try await cluster.startWorker(routers: [router])
                let second = try await cluster.startWorker(routers: [router])
                let client = try MessageSocket(.dealer, connect: [router.endpoint])
                defer { client.close() }
                var number = 0
                func route(_ prompt: [Int], excluding: [String] = []) async throws -> String? {
                    number += 1
                    let id = requestID("route-\(number)")
                    client.send([try ControlMessage.routeRequest(RouteRequest(
                        requestID: id, model: modelName("SmolLM2-135M-Instruct"), adapter: nil, promptIDs: prompt, excluding: excluding.map { WorkerID($0) }
                    )).encoded()])
                    for await frames in client.incoming {
                        if case .routeDecision(let decision) = try ControlMessage(decoding: frames[0]), decision.requestID == id {
                            return decision.workerID?.rawValue
                        }
                    }
                    return nil
                }
                let x = Array(1...128), y = Array(1001...1128)
                // Sent to worker-2 once (worker-1 excluded), X is taken to be cached there.
                #expect(try await route(x, excluding: [first.id]) == second.id)
                // After a load report (the routed work is no longer counted as pending load):
                try await Task.sleep(for: .milliseconds(700))
                #expect(try await route(x) == second.id)
                #expect(try await route(y) == first.id)
                // The worker's own KV events are ignored in this mode: nothing but decisions indexed.
                #expect(!router.process.log.contains("KV index rebuilt from a snapshot"))
                // After the TTL, X is forgotten: the tie goes to worker-1 again.
                try await Task.sleep(for: .seconds(4))
                #expect(try await route(x) == first.id)
            }
        }
    }
}

extension EndToEnd {
    @Suite struct LoadReports {
        /// With heartbeats 30 s apart, the router still learns within a second of the engine
        /// starting a request that the worker is busy: load changes are published on the event
        /// socket between heartbeats. (Measured from the first chunk, so that a slow engine on a
        /// loaded host does not count against the report.)
        @Test func loadReachesTheRouterBetweenHeartbeats() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                _ = try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "30"])
                func running() async -> Int? {
                    let view = try? await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                    return ((view?["workers"] as? [[String: Any]])?.first?["metrics"] as? [String: Any])?["runningRequests"] as? Int
                }
                #expect(await running() == 0)
                let client = try MessageSocket(.dealer, connect: [try await WorkerInference.servingEndpoint(router)])
                defer { client.close() }
                var sampling = SamplingParameters()
                sampling.maxTokens = 400
                sampling.ignoreEOS = true
                client.send([try ServingMessage.generate(InferenceRequest(requestID: requestID("long"), promptIDs: [1, 2, 3, 4], adapter: nil, sampling: sampling)).encoded()])
                let firstChunk = Mutex(false)
                let reader = Task {
                    for await frames in client.incoming {
                        if case .chunk? = try? ServingMessage(decoding: frames.last ?? []) { firstChunk.withLock { $0 = true } }
                    }
                }
                defer { reader.cancel() }
                try #require(await eventually(timeout: .seconds(30)) { firstChunk.withLock { $0 } }, "the engine never started the request")
                try #require(await eventually(timeout: .seconds(1)) { await running() == 1 }, "the router did not hear of the running request")
                // The last change of a burst goes out too, though it may follow the previous
                // report by less than the 50 ms rate limit.
                client.send([try ServingMessage.cancel(requestID: requestID("long")).encoded()])
                try #require(await eventually(timeout: .seconds(1)) { await running() == 0 }, "the router did not hear the worker went idle")
            }
        }
    }
}
