import Logging
import PatchworkCore
@testable import PatchworkRouter
import PatchworkRouting
import PatchworkTesting
import Testing

/// The router's message glue in process: control-message bytes in, replies and snapshot
/// requests out, no sockets.
struct RouterStateTests {
    static func state(policy: RoutingPolicy = .kv) -> RouterState {
        RouterState(routerID: "router-1", missedHeartbeatsAllowed: 3, eventsPort: 7001, policy: policy, logger: Logger(label: "test"))
    }

    static let card = ModelCard(
        servedModelName: modelName("m"), architecture: "llama", contextLength: 8192, kvBlockSize: 4,
        dimensions: ModelDimensions(layers: 30, hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocabulary: 49152),
        lora: LoRACapabilities(enabled: true, maxLoras: 8, maxRank: 64), hasChatTemplate: true
    )

    static func registration(_ id: String, adapters: [AdapterSummary] = []) -> ControlMessage {
        .register(WorkerRegistration(
            workerID: WorkerID(id), httpURL: "http://\(id)", servingEndpoint: "tcp://\(id):7100", model: card, adapters: adapters,
            metrics: LoadMetrics(), heartbeatInterval: 1
        ))
    }

    static func adapter(_ name: String) -> AdapterSummary {
        let name = try! AdapterName(name)
        return AdapterSummary(
            name: name, loraID: name.loraID, source: "s3://b/\(name)", digest: ContentDigest(bytes: Array(repeating: 3, count: 32)),
            rank: 8, alpha: 16, targetModules: ["q_proj"], bytes: 1
        )
    }

    static func send(_ message: ControlMessage, from peer: [UInt8], to state: RouterState, now: Double = 0) async throws -> RouterState.Output {
        await state.receive(try message.encoded(), from: peer, now: now)
    }

    @Test func aRegistrationIsAcknowledgedAndItsCacheAskedFor() async throws {
        let state = Self.state()
        // A frontend subscribed first: it hears of the new worker.
        let ping = try await Self.send(.frontendPing(FrontendPing(frontendID: "f", knownVersion: 0)), from: [9], to: state)
        guard case .clusterView(let empty)? = ping.replies.first?.message else { Issue.record("no view for the frontend"); return }
        #expect(empty.workers.isEmpty && empty.routerID == "router-1")

        let output = try await Self.send(Self.registration("w1"), from: [1], to: state)
        #expect(output.snapshots == [RoutingCore.SnapshotRequest(worker: WorkerID("w1"), endpoint: "tcp://w1:7100", reason: .registration)])
        #expect(output.replies.count == 2)
        #expect(output.replies.first?.peer == [1])
        #expect(output.replies.first?.message == .registered(RegistrationAck(workerID: WorkerID("w1"), routerID: "router-1", eventsPort: 7001)))
        guard case .clusterView(let view)? = output.replies.last?.message else { Issue.record("no view pushed"); return }
        #expect(output.replies.last?.peer == [9])
        #expect(view.workers.map(\.workerID) == [WorkerID("w1")] && view.version > empty.version)
    }

    @Test func aRouteRequestIsAnsweredWithTheCheapestWorker() async throws {
        let state = Self.state()
        _ = try await Self.send(Self.registration("w1", adapters: [Self.adapter("a")]), from: [1], to: state)
        _ = try await Self.send(Self.registration("w2"), from: [2], to: state)
        // w2 has the prompt's first two blocks cached; w1 holds the adapter.
        for worker in ["w1", "w2"] { await state.applySnapshot(worker: WorkerID(worker), replay: KVEventReplay(requestID: requestID("s"), snapshot: true, batches: [])) }
        let stored = KVEvent.blockStored(.init(
            blockHashes: [.integer(1), .integer(2)], parentBlockHash: nil, tokenIDs: Array(0..<8), blockSize: 4, loraID: nil, medium: nil, loraName: nil
        ))
        #expect(await state.ingest(worker: WorkerID("w2"), sequence: 0, events: [stored]) == nil)

        let base = RouteRequest(requestID: requestID("req-1"), model: modelName("m"), adapter: nil, promptIDs: Array(0..<12), excluding: [])
        let answer = try await Self.send(.routeRequest(base), from: [5], to: state)
        #expect(answer.replies.map(\.peer) == [[5]])
        #expect(answer.replies.first?.message == .routeDecision(RouteDecision(
            requestID: requestID("req-1"), workerID: WorkerID("w2"), servingEndpoint: "tcp://w2:7100", reason: nil
        )))
        let adapter = RouteRequest(requestID: requestID("req-2"), model: modelName("m"), adapter: try AdapterName("a"), promptIDs: Array(0..<12), excluding: [])
        let held = try await Self.send(.routeRequest(adapter), from: [5], to: state)
        #expect(held.replies.first?.message == .routeDecision(RouteDecision(
            requestID: requestID("req-2"), workerID: WorkerID("w1"), servingEndpoint: "tcp://w1:7100", reason: nil
        )))
        let unknown = RouteRequest(requestID: requestID("req-3"), model: modelName("m"), adapter: try AdapterName("nobody-has-it"), promptIDs: [1], excluding: [])
        let refused = try await Self.send(.routeRequest(unknown), from: [5], to: state)
        #expect(refused.replies.first?.message == .routeDecision(RouteDecision(
            requestID: requestID("req-3"), workerID: nil, servingEndpoint: nil, reason: "no live worker serves nobody-has-it", refusal: .modelNotFound
        )))
    }

    @Test func strangersAndGarbageAreAnswered() async throws {
        let state = Self.state()
        let beat = try await Self.send(.heartbeat(WorkerHeartbeat(workerID: WorkerID("ghost"), sequence: 1, metrics: LoadMetrics(), adapters: [])), from: [4], to: state)
        #expect(beat.replies.map(\.message) == [.unknownWorker(WorkerID("ghost"))])
        let garbage = await state.receive([0xc1, 0x00], from: [4], now: 0)
        #expect(garbage.replies.count == 1)
        guard case .refused? = garbage.replies.first?.message else { Issue.record("garbage not refused"); return }
    }

    /// Round-robin ignores the index: each worker in turn, by id.
    @Test func theRoutingPolicyIsTheOneConfigured() async throws {
        let state = Self.state(policy: .roundRobin)
        for id in ["w2", "w1", "w3"] { _ = try await Self.send(Self.registration(id), from: [1], to: state) }
        var chosen: [String] = []
        for n in 0..<4 {
            let route = RouteRequest(requestID: requestID("r\(n)"), model: modelName("m"), adapter: nil, promptIDs: [1, 2, 3, 4], excluding: [])
            guard case .routeDecision(let decision)? = try await Self.send(.routeRequest(route), from: [5], to: state).replies.first?.message else { continue }
            chosen.append(decision.workerID?.rawValue ?? "none")
        }
        #expect(chosen == ["w1", "w2", "w3", "w1"])
    }
}
