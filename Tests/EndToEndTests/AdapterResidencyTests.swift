import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Testing

extension EndToEnd {
    @Suite struct AdapterResidency {
        typealias Inference = EndToEnd.WorkerInference

        static func adapterLoads(_ router: Cluster.Router) async throws -> [String: String] {
            let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
            let metrics = (view["workers"] as? [[String: Any]])?.first?["metrics"] as? [String: Any]
            let loads = metrics?["adapters"] as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: loads.compactMap { l in (l["name"] as? String).map { ($0, l["tier"] as? String ?? "") } })
        }

        /// One resident slot and no host memory: every switch reloads from disk, outputs still
        /// match PEFT, and an adapter whose files changed on disk is refused rather than served.
        @Test func adaptersMoveBetweenTiersAndComeBackUnchanged() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--max-loras", "1", "--max-cpu-loras", "0", "--dequantize"])
                let copy = try TestPaths.temporaryDirectory("peft-copy").appendingPathComponent("adapter")
                try FileManager.default.copyItem(at: TestPaths.adapter("smollm2-qkvo-peft"), to: copy)
                #expect(try await EndToEnd.load(worker, name: "peft", uri: "file://" + copy.path).status == 200)
                #expect(try await EndToEnd.load(worker, name: "other", uri: EndToEnd.qv).status == 200)
                #expect(await eventually { (try? await Self.adapterLoads(router)) == ["peft": "disk", "other": "disk"] })

                let client = try MessageSocket(.dealer, connect: [try await Inference.servingEndpoint(router)])
                defer { client.close() }
                func firstToken(_ adapter: String, _ id: String) async throws -> (InferenceChunk.Token?, ServingFailure?) {
                    let result = try await Inference.collect(client, send: .generate(InferenceRequest(
                        requestID: requestID(id), promptIDs: Inference.reference.chat.ids, adapter: adapterName(adapter), sampling: Inference.greedy(1)
                    )), requestID: requestID(id))
                    return (result.chunks.first?.tokens.first, result.failure)
                }
                let reference = Inference.reference.chat.adapter[0]
                let (first, _) = try await firstToken("peft", "1")
                #expect(first?.id == reference.token)
                #expect(abs((first?.logprob ?? 0) - reference.logprob) <= 2e-3)
                #expect(await eventually { (try? await Self.adapterLoads(router))?["peft"] == "resident" })

                // "other" takes the only slot; "peft" goes back to disk.
                _ = try await firstToken("other", "2")
                #expect(await eventually { (try? await Self.adapterLoads(router)) == ["peft": "disk", "other": "resident"] })
                let (again, _) = try await firstToken("peft", "3")
                // The prompt's blocks are cached by now (same contents, same namespace), so the
                // computation is chunked differently: equal up to rounding.
                #expect(again?.id == first?.id)
                #expect(abs((again?.logprob ?? 0) - (first?.logprob ?? 1)) <= 1e-4)

                // Change the file under a demoted adapter: it must not be served.
                _ = try await firstToken("other", "4")
                #expect(await eventually { (try? await Self.adapterLoads(router))?["peft"] == "disk" })
                let weights = copy.appendingPathComponent("adapter_model.safetensors")
                var data = try Data(contentsOf: weights)
                data[data.count - 1] ^= 0xff
                try data.write(to: weights)
                let (_, failure) = try await firstToken("peft", "5")
                #expect(failure?.message.contains("changed since it was loaded") == true)
            }
        }

        /// Four adapters wanted at once with two resident slots: every request completes.
        @Test func moreAdaptersThanSlotsAllComplete() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--max-loras", "2", "--max-cpu-loras", "1"])
                let sources = ["smollm2-qv-r8", "smollm2-all-r4", "smollm2-qkvo-rslora-r16", "smollm2-qkvo-peft"]
                for (i, source) in sources.enumerated() {
                    #expect(try await EndToEnd.load(worker, name: "a\(i)", uri: "file://" + TestPaths.adapter(source).path).status == 200)
                }
                let client = try MessageSocket(.dealer, connect: [try await Inference.servingEndpoint(router)])
                defer { client.close() }
                for i in 0..<8 {
                    client.send([try ServingMessage.generate(InferenceRequest(
                        requestID: requestID("r\(i)"), promptIDs: Inference.reference.chat.ids, adapter: adapterName("a\(i % 4)"), sampling: Inference.greedy(3)
                    )).encoded()])
                }
                var finished = Set<String>(), failures: [ServingFailure] = []
                for await frames in client.incoming {
                    switch try ServingMessage(decoding: frames[0]) {
                    case .chunk(let chunk) where chunk.finishReason != nil: finished.insert(chunk.requestID.rawValue)
                    case .failure(let failure): failures.append(failure)
                    default: break
                    }
                    if finished.count + failures.count == 8 { break }
                }
                #expect(failures.isEmpty)
                #expect(finished.count == 8)
                let tiers = try await Self.adapterLoads(router)
                #expect(tiers.values.filter { $0 == "resident" }.count <= 2)
                let text = try await HTTPClient.get(port: worker.systemPort, path: "/metrics").text
                #expect(text.contains("patchwork_worker_adapter_tier{adapter=\"a0\"}"))
                #expect(text.contains("patchwork_worker_kv_blocks_total"))
            }
        }
    }
}
