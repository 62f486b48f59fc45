import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Testing

extension EndToEnd {
    /// Inference over a worker's serving endpoint, against transformers' and PEFT's references.
    @Suite struct WorkerInference {
        struct Reference: Decodable {
            struct Step: Decodable { var token: Int; var logprob: Float }
            struct Chat: Decodable { var ids: [Int]; var answer: String; var base: [Step]; var adapter: [Step] }
            var chat: Chat
        }

        static let reference = try! JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("references/smollm2.json"))
        )

        static func greedy(_ tokens: Int) -> SamplingParameters {
            var p = SamplingParameters()
            p.temperature = 0
            p.maxTokens = tokens
            return p
        }

        /// Sends `message` and collects replies for `requestID` until it finishes or fails.
        static func collect(_ socket: MessageSocket, send message: ServingMessage, requestID: RequestID, afterFirst: (() -> Void)? = nil) async throws -> (chunks: [InferenceChunk], failure: ServingFailure?) {
            try await collect(socket, raw: try message.encoded(), requestID: requestID, afterFirst: afterFirst)
        }

        /// Sends bytes as they are (also ones no encoder of ours would write) and collects the replies.
        static func collect(_ socket: MessageSocket, raw: [UInt8], requestID: RequestID, afterFirst: (() -> Void)? = nil) async throws -> (chunks: [InferenceChunk], failure: ServingFailure?) {
            socket.send([raw])
            var chunks: [InferenceChunk] = []
            for await frames in socket.incoming {
                switch try ServingMessage(decoding: frames[0]) {
                case .chunk(let chunk) where chunk.requestID == requestID:
                    chunks.append(chunk)
                    if chunks.count == 1 { afterFirst?() }
                    if chunk.finishReason != nil { return (chunks, nil) }
                case .failure(let failure) where failure.requestID == requestID:
                    return (chunks, failure)
                default: continue
                }
            }
            return (chunks, nil)
        }

        static func servingEndpoint(_ router: Cluster.Router) async throws -> String {
            let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
            let worker = try #require((view["workers"] as? [[String: Any]])?.first)
            return try #require(worker["servingEndpoint"] as? String)
        }

        @Test func greedyAnswersAndAdapterLogprobsMatchTheReferences() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                // The file's exact function (f32 weights and activations), what transformers computes.
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--dequantize"])
                let client = try MessageSocket(.dealer, connect: [try await Self.servingEndpoint(router)])
                defer { client.close() }

                let base = try await Self.collect(client, send: .generate(InferenceRequest(
                    requestID: requestID("base"), promptIDs: Self.reference.chat.ids, adapter: nil, sampling: Self.greedy(20)
                )), requestID: requestID("base"))
                #expect(base.failure == nil)
                #expect(base.chunks.flatMap(\.tokens).map(\.text).joined() == Self.reference.chat.answer)
                #expect(base.chunks.last?.finishReason == "stop")
                #expect(base.chunks.last?.usage?.promptTokens == Self.reference.chat.ids.count)
                let first = try #require(base.chunks.first?.tokens.first)
                #expect(first.id == Self.reference.chat.base[0].token)
                #expect(abs(first.logprob - Self.reference.chat.base[0].logprob) <= 2e-3)

                #expect(try await EndToEnd.load(worker, name: "peft", uri: "file://" + TestPaths.adapter("smollm2-qkvo-peft").path).status == 200)
                let tuned = try await Self.collect(client, send: .generate(InferenceRequest(
                    requestID: requestID("tuned"), promptIDs: Self.reference.chat.ids, adapter: adapterName("peft"), sampling: Self.greedy(4)
                )), requestID: requestID("tuned"))
                let tokens = tuned.chunks.flatMap(\.tokens)
                #expect(tokens.count == 4)
                for (token, step) in zip(tokens, Self.reference.chat.adapter) where token.id == step.token {
                    #expect(abs(token.logprob - step.logprob) <= 2e-3)
                }
                #expect(tokens.first?.id == Self.reference.chat.adapter[0].token)

                let unknown = try await Self.collect(client, send: .generate(InferenceRequest(
                    requestID: requestID("nope"), promptIDs: [1, 2, 3], adapter: adapterName("not-loaded"), sampling: Self.greedy(4)
                )), requestID: requestID("nope"))
                #expect(unknown.failure?.code == .unknownAdapter)

                // A malformed adapter name is refused under the request's own id.
                let malformed = MessagePackValue.map([
                    (.string("v"), .int(1)), (.string("type"), .string("generate")),
                    (.string("body"), .map([
                        (.string("requestID"), .string("bad-name")), (.string("promptIDs"), .array([.int(1), .int(2)])),
                        (.string("adapter"), .string("../escape")), (.string("sampling"), .map([])),
                    ])),
                ])
                let refused = try await Self.collect(client, raw: malformed.encoded(), requestID: requestID("bad-name"))
                #expect(refused.failure?.code == .badRequest && refused.failure?.message.contains("..") == true, "\(String(describing: refused.failure))")
                let tooLong = try await Self.collect(client, send: .generate(InferenceRequest(
                    requestID: requestID("long"), promptIDs: Array(repeating: 5, count: 8190), adapter: nil, sampling: Self.greedy(100)
                )), requestID: requestID("long"))
                #expect(tooLong.failure?.code == .contextExceeded)

                // KV events reached the router in vLLM's format.
                #expect(await eventually { ((try? await EndToEnd.metric("patchwork_router_kv_event_batches_total", port: router.systemPort)) ?? 0) > 0 })
                #expect(try await EndToEnd.metric("patchwork_router_kv_event_errors_total", port: router.systemPort) == 0)
            }
        }

        @Test func cancellingARequestStopsItAndFreesItsBlocks() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                _ = try await cluster.startWorker(routers: [router])
                let client = try MessageSocket(.dealer, connect: [try await Self.servingEndpoint(router)])
                defer { client.close() }
                var sampling = Self.greedy(400)
                sampling.ignoreEOS = true
                client.send([try ServingMessage.generate(InferenceRequest(requestID: requestID("c"), promptIDs: Self.reference.chat.ids, adapter: nil, sampling: sampling)).encoded()])
                func used() async throws -> Int? {
                    let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                    let metrics = ((view["workers"] as? [[String: Any]])?.first?["metrics"] as? [String: Any])
                    return metrics?["kvBlocksUsed"] as? Int
                }
                // The running request holds blocks (seen through the worker's heartbeats)...
                #expect(await eventually(timeout: .seconds(5)) { ((try? await used()) ?? 0) > 0 })
                client.send([try ServingMessage.cancel(requestID: requestID("c")).encoded()])
                // ...and a cancel frees them at once; no chunk follows for long.
                #expect(await eventually(timeout: .seconds(5)) { (try? await used()) == 0 })
                #expect(try await used() == 0)
                // Chunks sent before the cancel are still queued here: drain them, then no new
                // ones may come.
                func count(for duration: Duration) async -> Int {
                    let counter = Task {
                        var seen = 0
                        for await frames in client.incoming {
                            if case .chunk = try? ServingMessage(decoding: frames[0]) { seen += 1 }
                        }
                        return seen
                    }
                    try? await Task.sleep(for: duration)
                    counter.cancel()
                    return await counter.value
                }
                _ = await count(for: .milliseconds(300))
                #expect(await count(for: .milliseconds(800)) == 0)
                let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                #expect(((view["workers"] as? [[String: Any]])?.first?["metrics"] as? [String: Any])?["runningRequests"] as? Int == 0)
            }
        }
    }
}

extension EndToEnd.WorkerInference {
    /// A subscriber that lost events asks for them again: the batches from sequence 0, and a
    /// snapshot, give the same cache.
    @Test func kvEventsCanBeReplayedOrSnapshotted() async throws {
        try await withCluster { cluster in
            let router = try await cluster.startRouter()
            _ = try await cluster.startWorker(routers: [router])
            let client = try MessageSocket(.dealer, connect: [try await Self.servingEndpoint(router)])
            defer { client.close() }
            for (i, prompt) in [Self.reference.chat.ids, Array(Self.reference.chat.ids.prefix(20)) + Array(repeating: 300, count: 30)].enumerated() {
                let result = try await Self.collect(client, send: .generate(InferenceRequest(
                    requestID: requestID("p\(i)"), promptIDs: prompt, adapter: nil, sampling: Self.greedy(3)
                )), requestID: requestID("p\(i)"))
                #expect(result.failure == nil)
            }
            func replay(from sequence: Int64) async throws -> KVEventReplay {
                client.send([try ServingMessage.kvEventsRequest(requestID: requestID("k\(sequence)"), fromSequence: sequence).encoded()])
                for await frames in client.incoming {
                    if case .kvEvents(let replay) = try ServingMessage(decoding: frames[0]), replay.requestID.rawValue == "k\(sequence)" { return replay }
                }
                throw TestFailure("no replay")
            }
            func index(_ replay: KVEventReplay) throws -> Set<KVBlockHash> {
                var hashes = Set<KVBlockHash>()
                for batch in replay.batches {
                    for event in try KVEventBatch(decoding: batch.payload).events {
                        switch event {
                        case .blockStored(let s): hashes.formUnion(s.blockHashes)
                        case .blockRemoved(let r): hashes.subtract(r.blockHashes)
                        case .allBlocksCleared: hashes = []
                        }
                    }
                }
                return hashes
            }
            let all = try await replay(from: 0)
            #expect(!all.snapshot)
            #expect(all.batches.map(\.sequence) == Array(0..<Int64(all.batches.count)))
            let snapshot = try await replay(from: -1)
            #expect(snapshot.snapshot && snapshot.batches.count == 1)
            #expect(snapshot.batches[0].sequence == all.batches.last?.sequence)
            let cached = try index(all)
            // 37- and 50-token prompts of 16-token blocks, sharing one block: 2 + 3 - 1 full blocks.
            #expect(cached.count == 4)
            #expect(try index(snapshot) == cached)
        }
    }
}
