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

        /// Relative paths of the files in a cache entry, its manifest left out.
        static func files(in entry: URL) -> [String] {
            let paths = (try? FileManager.default.subpathsOfDirectory(atPath: entry.path)) ?? []
            return paths.filter { path in
                var isDirectory: ObjCBool = false
                let exists = FileManager.default.fileExists(atPath: entry.appendingPathComponent(path).path, isDirectory: &isDirectory)
                return exists && !isDirectory.boolValue && path != "patchwork-entry.json"
            }.sorted()
        }

        /// The seed's own example, a nested prefix (`s3://my-models-bucket/loras/customer-support/v1`),
        /// and a prefix whose segments hold spaces, `+`, `=` and non-ASCII characters with a file
        /// named likewise: both load from moto with signatures checked, show their source, and
        /// have the digest of the same files loaded from disk. The sibling `v10` is never mixed
        /// into `v1` (the listing asks for `v1/`), and `v` alone holds nothing.
        @Test func loadsNestedPrefixesAndUnusualKeys() async throws {
            let other = TestPaths.adapter("smollm2-all-r4")
            let unusual = try TestPaths.temporaryDirectory("unusual-keys")
            defer { try? FileManager.default.removeItem(at: unusual) }
            for file in ["adapter_config.json", "adapter_model.safetensors"] {
                try FileManager.default.copyItem(at: Self.adapter.appendingPathComponent(file), to: unusual.appendingPathComponent(file))
            }
            let oddFile = "notes é日本 🦜 a+b=c (1)%20.md"
            try Data("not part of the adapter\n".utf8).write(to: unusual.appendingPathComponent(oddFile))
            let nested = "s3://my-models-bucket/loras/customer-support/v1"
            let odd = "s3://adapters/team a+b=c/é日本/v1"
            let s3 = try await S3TestServer(uploads: [nested: Self.adapter, nested + "0": other, odd: unusual])
            defer { s3.stop() }
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let cache = cluster.logDirectory.appendingPathComponent("s3-cache")
                let worker = try await cluster.startWorker(routers: [router], environment: s3.environment().merging(["PATCHWORK_LORA_PATH": cache.path]) { $1 })

                func digest(_ name: String) async throws -> String? {
                    try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/\(name)").json()["digest"] as? String
                }
                for (name, uri) in [("qv-file", "file://" + Self.adapter.path), ("all-file", "file://" + other.path)] {
                    let load = try await EndToEnd.load(worker, name: name, uri: uri)
                    #expect(load.status == 200, "\(load.text)")
                }
                let qvDigest = try #require(try await digest("qv-file"))
                let allDigest = try #require(try await digest("all-file"))
                #expect(qvDigest != allDigest)

                for (name, uri, expected) in [("customer-support", nested, qvDigest), ("customer-support-v10", nested + "0", allDigest), ("team-abc", odd, qvDigest)] {
                    let load = try await EndToEnd.load(worker, name: name, uri: uri)
                    #expect(load.status == 200, "\(uri): \(load.text)")
                    let details = try await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/\(name)").json()
                    #expect(details["source"] as? String == uri)
                    #expect(details["digest"] as? String == expected, "\(uri)")
                }

                // Each entry holds exactly its own prefix's files, under their own names.
                var filesByURI: [String: [String]] = [:]
                for key in Self.entries(cache).complete {
                    let entry = cache.appendingPathComponent(key)
                    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: entry.appendingPathComponent("patchwork-entry.json"))) as? [String: Any]
                    filesByURI[manifest?["uri"] as? String ?? key] = Self.files(in: entry)
                }
                let adapterFiles = ["adapter_config.json", "adapter_model.safetensors"]
                #expect(filesByURI == [nested: adapterFiles, nested + "0": adapterFiles, odd: (adapterFiles + [oddFile]).sorted()])

                // A prefix that only begins the others' names holds nothing.
                let partial = try await EndToEnd.load(worker, name: "customer-support-v", uri: "s3://my-models-bucket/loras/customer-support/v")
                #expect(partial.status == 404, "\(partial.text)")
                #expect((try partial.json()["message"] as? String ?? "").contains("nothing there"), "\(partial.text)")
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
                    requestID: requestID("r1"), promptIDs: [1, 2, 3, 4], adapter: adapterName("slow"), sampling: sampling, adapterSource: "hf://org/slow"
                )).encoded()])
                #expect(await eventually(timeout: .seconds(10)) {
                    let details = try? await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/slow").json()
                    return ((details?["progress"] as? [String: Any])?["bytes_done"] as? Int ?? 0) > 0
                })
                client.send([try ServingMessage.cancel(requestID: requestID("r1")).encoded()])
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
