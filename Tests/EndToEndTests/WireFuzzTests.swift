import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import Testing

extension EndToEnd {
    /// Malformed MessagePack frames at every ZeroMQ socket a peer can reach: the router's
    /// control socket, its KV-event socket and a worker's serving socket. Random bytes,
    /// truncated and mutated messages, huge lengths, unknown types, wrong protocol versions,
    /// wrong bodies and wrong frame counts, from a fixed seed. Every process stays up, counts
    /// each bad message it refused, and serves real requests in between.
    @Suite struct WireFuzz {
        /// SplitMix64: the same frames every run, so a failure replays.
        struct Seeded: RandomNumberGenerator {
            var state: UInt64
            mutating func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
        }

        static func envelope(_ version: Int64, _ type: String, _ body: MessagePackValue) -> [UInt8] {
            MessagePackValue.map([(.string("v"), .int(version)), (.string("type"), .string(type)), (.string("body"), body)]).encoded()
        }

        /// `count` payloads that `isValid` refuses, made from `seeds` (valid messages) and noise.
        static func badPayloads(count: Int, seeds: [[UInt8]], types: [String], isValid: ([UInt8]) -> Bool, random: inout Seeded) -> [[UInt8]] {
            var out: [[UInt8]] = []
            var attempt = 0
            while out.count < count {
                attempt += 1
                let seed = seeds[Int.random(in: 0..<seeds.count, using: &random)]
                var payload: [UInt8]
                switch attempt % 8 {
                case 0: payload = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                case 1: payload = Array(seed.prefix(Int.random(in: 0..<max(1, seed.count), using: &random)))
                case 2:
                    payload = seed
                    for _ in 0..<Int.random(in: 1...4, using: &random) where !payload.isEmpty {
                        payload[Int.random(in: 0..<payload.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                    }
                case 3:
                    // A 32-bit length or count near 4 G with a few bytes behind it.
                    let header: [UInt8] = [[0xdd], [0xdf], [0xc6], [0xdb]][Int.random(in: 0..<4, using: &random)] + [0xff, 0xff, 0xff, UInt8.random(in: 0xf0...0xff, using: &random)]
                    payload = Bool.random(using: &random) ? header + [1, 2, 3] : Array(envelope(1, types[0], .nil_).dropLast()) + header
                case 4: payload = envelope(1, "fuzz-\(attempt)", .map([]))
                case 5: payload = envelope(Int64.random(in: 2...99, using: &random), types[Int.random(in: 0..<types.count, using: &random)], .map([]))
                case 6:
                    let bodies: [MessagePackValue] = [.nil_, .bool(true), .int(-1), .string("x"), .array([.int(1)]), .map([(.string("requestID"), .int(7))])]
                    payload = envelope(1, types[Int.random(in: 0..<types.count, using: &random)], bodies[Int.random(in: 0..<bodies.count, using: &random)])
                default:
                    // Nesting deeper than any message: arrays of arrays.
                    payload = Array(repeating: 0x91, count: Int.random(in: 600...5000, using: &random)) + [0xc0]
                }
                if !isValid(payload) { out.append(payload) }
            }
            return out
        }

        @Test func malformedFramesAreRefusedAndCounted() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                let serving = try #require(((view["workers"] as? [[String: Any]])?.first?["servingEndpoint"]) as? String)

                var random = Seeded(state: 20_261_201)
                let control = try MessageSocket(.dealer, connect: [router.endpoint])
                let events = try MessageSocket(.publisher, connect: ["tcp://127.0.0.1:\(router.eventsPort)"])
                let toWorker = try MessageSocket(.dealer, connect: [serving])
                defer { [control, events, toWorker].forEach { $0.close() } }
                // A publisher's first messages are lost until the subscription reaches it: probe
                // with one-frame messages until the router counts one, then count from there.
                let eventErrors = { (try? await EndToEnd.metric("patchwork_router_kv_event_errors_total", port: router.systemPort)) ?? 0 }
                #expect(await eventually(timeout: .seconds(15), every: .milliseconds(200)) {
                    events.send([Array("probe".utf8)])
                    return await eventErrors() >= 1
                })
                try await Task.sleep(for: .milliseconds(500))
                let eventBaseline = await eventErrors()

                let controlTypes = ["register", "heartbeat", "adapter_event", "goodbye", "frontend_ping", "route_request"]
                let servingTypes = ["generate", "cancel", "kv_events_request", "model_assets_request"]
                let controlSeed = Self.envelope(1, "heartbeat", .map([(.string("workerID"), .string("fuzz")), (.string("sequence"), .int(1))]))
                let servingSeed = try ServingMessage.cancel(requestID: try RequestID("fuzz-1")).encoded()
                let batchSeed = KVEventBatch(timestamp: 1, events: [.allBlocksCleared]).encoded()
                let loadSeed = try MessagePackEncoder().encode(LoadMetrics())
                var sent = (control: 0, events: 0, serving: 0)
                for round in 0..<5 {
                    for payload in Self.badPayloads(count: 40, seeds: [controlSeed], types: controlTypes, isValid: { (try? ControlMessage(decoding: $0)) != nil }, random: &random) {
                        control.send([payload])
                    }
                    control.send([[1], [2]])  // two frames where one is expected
                    sent.control += 41
                    // KV-event batches under a worker's topic, load reports under `load/`.
                    let batches = Self.badPayloads(count: 30, seeds: [batchSeed], types: ["x"], isValid: { (try? KVEventBatch(decoding: $0)) != nil }, random: &random)
                    let loads = Self.badPayloads(count: 10, seeds: [loadSeed], types: ["x"], isValid: { (try? MessagePackDecoder().decode(LoadMetrics.self, from: $0)) != nil }, random: &random)
                    for (i, payload) in batches.enumerated() {
                        let topic = Array("fuzz-worker".utf8)
                        events.send(i % 10 == 9 ? [topic, payload] : KVEventFrame(topic: topic, sequence: Int64(round * 40 + i), payload: payload).frames)
                    }
                    for payload in loads {
                        events.send(KVEventFrame(topic: Array((KVEventFrame.loadTopicPrefix + "fuzz-worker").utf8), sequence: 0, payload: payload).frames)
                    }
                    sent.events += 40
                    for payload in Self.badPayloads(count: 40, seeds: [servingSeed], types: servingTypes, isValid: { (try? ServingMessage(decoding: $0)) != nil }, random: &random) {
                        toWorker.send([payload])
                    }
                    toWorker.send([[1], [2]])
                    sent.serving += 41
                    // Real traffic in between is served as ever.
                    let answer = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: ["model": "SmolLM2-135M-Instruct", "prompt": "Hello", "max_tokens": 2])
                    #expect(answer.status == 200, "round \(round): \(answer.text)")
                }
                let counts = { () async -> (Double, Double, Double) in
                    (
                        (try? await EndToEnd.metric("patchwork_router_refused_messages_total", port: router.systemPort)) ?? 0,
                        await eventErrors() - eventBaseline,
                        (try? await EndToEnd.metric("patchwork_worker_refused_messages_total", port: worker.systemPort)) ?? 0
                    )
                }
                let allCounted = await eventually(timeout: .seconds(10)) {
                    let (c, e, s) = await counts()
                    return c == Double(sent.control) && e == Double(sent.events) && s == Double(sent.serving)
                }
                let counted = await counts()
                #expect(allCounted, "refused (control, events, serving): \(counted) of \(sent)")
                print("wire fuzzing: sent control \(sent.control), events \(sent.events), serving \(sent.serving); refused and counted \(counted)")
                #expect(router.process.isRunning && worker.process.isRunning && frontend.process.isRunning)
                #expect(try await HTTPClient.get(port: worker.systemPort, path: "/health").status == 200)
            }
        }
    }
}
