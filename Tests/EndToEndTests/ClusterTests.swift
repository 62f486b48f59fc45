import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Testing

extension EndToEnd {
    @Suite struct ClusterMembership {
        @Test func killedWorkersAdaptersDisappearWithinFiveSeconds() async throws {
            try await withCluster { cluster in
                // The default heartbeat interval (1 s) and misses (3), as a deployment would run.
                let router = try await cluster.startRouter()
                let doomed = try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "1"])
                let survivor = try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "1"])
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await EndToEnd.load(doomed, name: "on-doomed", uri: EndToEnd.qv).status == 200)
                #expect(try await EndToEnd.load(survivor, name: "on-survivor", uri: EndToEnd.all).status == 200)
                #expect(await eventually(timeout: .seconds(2)) { (try? await EndToEnd.models(frontend))?.count == 3 })

                doomed.process.kill9()
                let killedAt = ContinuousClock.now
                let gone = await eventually(timeout: .seconds(5)) { (try? await EndToEnd.models(frontend))?["on-doomed"] == nil }
                #expect(gone)
                print("dead worker's adapter gone after \(ContinuousClock.now - killedAt)")
                #expect(try await EndToEnd.models(frontend)["on-survivor"] == "SmolLM2-135M-Instruct")
                #expect(router.process.log.contains("worker declared dead"))
                #expect(try await EndToEnd.metric("patchwork_router_dead_workers_total", port: router.systemPort) == 1)
            }
        }

        @Test func aSecondWorkerJoinsAndAGracefulOneLeavesAtOnce() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                _ = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                let second = try await cluster.startWorker(routers: [router], servedModelName: "second-base")
                #expect(await eventually(timeout: .seconds(2)) { (try? await EndToEnd.models(frontend))?["second-base"] == "" })
                let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                #expect((view["workers"] as? [Any])?.count == 2)

                second.process.stop()  // SIGTERM: the worker says goodbye
                #expect(await eventually(timeout: .seconds(1)) { (try? await EndToEnd.models(frontend))?["second-base"] == nil })
                #expect(router.process.log.contains("worker left"))
            }
        }

        @Test func aWorkerReportsToEveryRouter() async throws {
            try await withCluster { cluster in
                let first = try await cluster.startRouter()
                let second = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [first, second])
                let frontends = [try await cluster.startFrontend(routers: [first]), try await cluster.startFrontend(routers: [second])]
                #expect(try await EndToEnd.load(worker, name: "everywhere", uri: EndToEnd.qv).status == 200)
                for frontend in frontends {
                    #expect(await eventually(timeout: .seconds(1)) { (try? await EndToEnd.models(frontend))?["everywhere"] != nil })
                }
                let health = try await HTTPClient.get(port: worker.systemPort, path: "/health").json()
                #expect((health["details"] as? [String: String])?["routers_connected"] == "2/2")
            }
        }

        @Test func aRestartedRouterRelearnsTheClusterAndTheFrontendNoticesTheGap() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await EndToEnd.load(worker, name: "survives", uri: EndToEnd.qv).status == 200)
                #expect(await eventually { (try? await EndToEnd.models(frontend))?["survives"] != nil })

                router.process.kill9()
                #expect(await eventually(timeout: .seconds(5)) {
                    (try? await HTTPClient.get(port: frontend.httpPort, path: "/health"))?.status == 503
                })
                #expect(try await EndToEnd.models(frontend).isEmpty)

                let restarted = try await cluster.startRouter(controlPort: router.controlPort)
                // The worker's next heartbeat meets "unknown worker" and it registers again.
                #expect(await eventually(timeout: .seconds(5)) { (try? await EndToEnd.models(frontend))?["survives"] != nil })
                #expect(restarted.process.log.contains("worker registered"))
                #expect(try await HTTPClient.get(port: frontend.httpPort, path: "/health").status == 200)
            }
        }

        @Test func aPeerWithAnotherProtocolVersionIsRefused() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let peer = try MessageSocket(.dealer, connect: [router.endpoint])
                defer { peer.close() }
                let future = MessagePackValue.map([
                    (.string("v"), .int(99)), (.string("type"), .string("register")), (.string("body"), .map([])),
                ]).encoded()
                peer.send([future])
                var reply: ControlMessage?
                for await frames in peer.incoming {
                    reply = try ControlMessage(decoding: frames[0])
                    break
                }
                guard case .refused(let refusal)? = reply else {
                    Issue.record("expected a refusal, got \(String(describing: reply))")
                    return
                }
                #expect(refusal.reason.contains("protocol version 99"))
                #expect(await router.process.waitForLog("refusing control message"))
                #expect(try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()["workers"] as? [Any] != nil)
            }
        }

        @Test func frontendSpeaksOpenAIErrors() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let frontend = try await cluster.startFrontend(routers: [router])
                let missing = try await HTTPClient.get(port: frontend.httpPort, path: "/v1/models/nope")
                #expect(missing.status == 404)
                let error = try missing.json()["error"] as? [String: Any]
                #expect(error?["code"] as? String == "model_not_found")
                #expect(error?["type"] as? String == "invalid_request_error")
                #expect(error?["param"] as? String == "model")
                let unknown = try await HTTPClient.get(port: frontend.httpPort, path: "/v2/anything")
                #expect(unknown.status == 404)
                #expect((try unknown.json()["error"] as? [String: Any])?["message"] as? String == "Unknown request URL: GET /v2/anything")
            }
        }
    }
}
