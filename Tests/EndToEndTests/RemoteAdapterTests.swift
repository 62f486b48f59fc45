import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Testing

extension EndToEnd {
    /// Workers loading adapters from a real S3-compatible server (moto, signatures checked) and
    /// from a server speaking the Hub's protocol (the public Hub cannot be reached from here).
    @Suite struct RemoteAdapters {
        static let adapter = TestPaths.adapter("smollm2-qv-r8")
        static let commit = String(repeating: "c3", count: 20)

        static func entries(_ cache: URL) -> (complete: [String], partial: [String]) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
            return (names.filter { !$0.hasPrefix(".") }.sorted(), names.filter { $0.hasPrefix(".partial-") })
        }

        @Test func loadsFromS3ServesItAndRefusesAWrongSecret() async throws {
            let s3 = try await S3TestServer(uploads: ["s3://adapters/team/qv": Self.adapter])
            defer { s3.stop() }
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let cache = cluster.logDirectory.appendingPathComponent("s3-cache")
                let worker = try await cluster.startWorker(routers: [router], environment: s3.environment().merging(["PATCHWORK_LORA_PATH": cache.path]) { $1 })
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(await worker.process.waitForLog("cache.path=\(cache.path)"))

                let load = try await EndToEnd.load(worker, name: "qv-s3", uri: "s3://adapters/team/qv")
                #expect(load.status == 200, "\(load.text)")
                #expect(try load.json()["message"] as? String == "LoRA adapter 'qv-s3' loaded successfully")
                let fromFile = try await EndToEnd.load(worker, name: "qv-file", uri: "file://" + Self.adapter.path)
                #expect(fromFile.status == 200)
                let s3Details = try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/qv-s3").json()
                let fileDetails = try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/qv-file").json()
                #expect(s3Details["source"] as? String == "s3://adapters/team/qv")
                #expect(s3Details["digest"] as? String != nil && s3Details["digest"] as? String == fileDetails["digest"] as? String)
                #expect(Self.entries(cache).complete.count == 1)

                // Served through the whole stack, the same as the same files loaded from disk.
                #expect(await eventually(timeout: .seconds(2)) { (try? await EndToEnd.models(frontend))?["qv-s3"] != nil })
                func complete(_ model: String) async throws -> String {
                    let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: [
                        "model": model, "prompt": "The capital of France is", "max_tokens": 6, "temperature": 0,
                    ])
                    #expect(response.status == 200, "\(response.text)")
                    return ((try response.json()["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
                }
                let text = try await complete("qv-s3")
                let reference = try await complete("qv-file")
                #expect(!text.isEmpty && text == reference)

                // Unloading keeps the download for the next load (a cache hit, no new entry).
                #expect(try await HTTPClient.delete(port: worker.systemPort, path: "/v1/loras/qv-s3").status == 200)
                #expect(try await EndToEnd.load(worker, name: "qv-s3", uri: "s3://adapters/team/qv").status == 200)
                #expect(Self.entries(cache).complete.count == 1)

                // A worker with a wrong secret: 403 naming the URI and the reason; nothing cached.
                let refusedCache = cluster.logDirectory.appendingPathComponent("refused-cache")
                let refused = try await cluster.startWorker(
                    routers: [router], environment: s3.environment(secret: "not-the-secret").merging(["PATCHWORK_LORA_PATH": refusedCache.path]) { $1 }
                )
                let denied = try await EndToEnd.load(refused, name: "qv", uri: "s3://adapters/team/qv")
                #expect(denied.status == 403)
                let message = try denied.json()["message"] as? String ?? ""
                #expect(message.contains("s3://adapters/team/qv") && message.contains("refused the credentials"), "\(message)")
                #expect(Self.entries(refusedCache).complete.isEmpty && Self.entries(refusedCache).partial.isEmpty)
                #expect(await refused.process.waitForLog("cache.path=\(refusedCache.path)"))

                // A worker that does not allow s3:// sources refuses before reaching the store.
                let fileOnly = try await cluster.startWorker(routers: [router], arguments: ["--allowed-sources", "file"], environment: s3.environment())
                let forbidden = try await EndToEnd.load(fileOnly, name: "qv", uri: "s3://adapters/team/qv")
                let forbiddenMessage = try forbidden.json()["message"] as? String ?? ""
                #expect(forbidden.status == 403 && forbiddenMessage.contains("--allowed-sources"))
            }
        }

        /// A request that makes its worker load an adapter on demand (the router found no worker
        /// holding it) and is cancelled during the download never runs; the load itself completes.
        @Test func aRequestCancelledWhileItsAdapterLoadsNeverRuns() async throws {
            let hub = try await HubTestServer(repositories: [
                .init(name: "org/slow", bytesPerSecond: 300_000, revisions: ["main": Self.commit], commits: [Self.commit: Self.adapter]),
            ])
            defer { hub.stop() }
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router], environment: ["HF_ENDPOINT": hub.endpoint])
                let client = try MessageSocket(.dealer, connect: [try await WorkerInference.servingEndpoint(router)])
                defer { client.close() }
                var sampling = SamplingParameters()
                sampling.maxTokens = 4
                client.send([try ServingMessage.generate(InferenceRequest(
                    requestID: "r1", promptIDs: [1, 2, 3, 4], adapter: "slow", sampling: sampling, adapterSource: "hf://org/slow"
                )).encoded()])
                #expect(await eventually(timeout: .seconds(10)) {
                    let details = try? await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/slow").json()
                    return ((details?["progress"] as? [String: Any])?["bytes_done"] as? Int ?? 0) > 0
                })
                client.send([try ServingMessage.cancel(requestID: "r1").encoded()])
                #expect(await eventually(timeout: .seconds(15)) {
                    (try? await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/slow").json())?["state"] as? String == "loaded"
                })
                // Nothing comes back for the cancelled request.
                let reply = await withTaskGroup(of: String?.self) { group in
                    group.addTask {
                        for await frames in client.incoming {
                            if let message = try? ServingMessage(decoding: frames[0]) { return message.typeName }
                        }
                        return nil
                    }
                    group.addTask { try? await Task.sleep(for: .seconds(2)); return nil }
                    let first = await group.next() ?? nil
                    group.cancelAll()
                    return first
                }
                #expect(reply == nil, "got \(reply ?? "")")
            }
        }

        /// A worker killed in the middle of a download leaves only a partial folder; restarted
        /// on the same cache it removes it, and the next load installs exactly one good copy.
        @Test func killedMidDownloadLeavesNothingThatLooksComplete() async throws {
            let hub = try await HubTestServer(repositories: [
                .init(name: "org/slow", bytesPerSecond: 250_000, revisions: ["main": Self.commit], commits: [Self.commit: Self.adapter]),
            ])
            defer { hub.stop() }
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let cache = cluster.logDirectory.appendingPathComponent("shared-cache")
                let environment = ["HF_ENDPOINT": hub.endpoint, "PATCHWORK_LORA_PATH": cache.path]
                let first = try await cluster.startWorker(routers: [router], environment: environment)
                let pending = Task { try? await EndToEnd.load(first, name: "slow", uri: "hf://org/slow") }

                // The progress shows while the download runs.
                var progress: [String: Any] = [:]
                let seen = await eventually(timeout: .seconds(10)) {
                    let details = (try? await HTTPClient.get(port: first.systemPort, path: "/v1/loras/slow").json()) ?? [:]
                    progress = details["progress"] as? [String: Any] ?? [:]
                    return details["state"] as? String == "loading" && (progress["bytes_done"] as? Int ?? 0) > 0
                }
                #expect(seen)
                let expected = try FileManager.default.attributesOfItem(atPath: Self.adapter.appendingPathComponent("adapter_model.safetensors").path)[.size] as! Int
                    + (try FileManager.default.attributesOfItem(atPath: Self.adapter.appendingPathComponent("adapter_config.json").path)[.size] as! Int)
                #expect(progress["bytes_total"] as? Int == expected)
                #expect((progress["bytes_done"] as? Int ?? 0) < expected)

                first.process.kill9()
                _ = await pending.value
                #expect(Self.entries(cache).complete.isEmpty)
                #expect(Self.entries(cache).partial.count == 1)

                let second = try await cluster.startWorker(routers: [router], environment: environment)
                #expect(await second.process.waitForLog("cache.leftovers_removed=1"))
                #expect(Self.entries(cache).partial.isEmpty)
                let load = try await EndToEnd.load(second, name: "slow", uri: "hf://org/slow")
                #expect(load.status == 200, "\(load.text)")
                let complete = Self.entries(cache).complete
                #expect(complete.count == 1 && complete.first?.hasSuffix("-" + Self.commit) == true)
                #expect(Self.entries(cache).partial.isEmpty)
                let details = try await HTTPClient.get(port: second.systemPort, path: "/v1/loras/slow").json()
                #expect(details["state"] as? String == "loaded" && details["progress"] == nil)
            }
        }
    }
}
