import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

struct ClusterMembershipTests {
    static let card = ModelCard(
        servedModelName: modelName("m"), architecture: "llama", contextLength: 8192, kvBlockSize: 16,
        dimensions: ModelDimensions(layers: 30, hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocabulary: 49152),
        lora: LoRACapabilities(enabled: true, maxLoras: 8, maxRank: 64), hasChatTemplate: true
    )

    static func adapter(_ name: String) -> AdapterSummary {
        let name = try! AdapterName(name)
        return AdapterSummary(
            name: name, loraID: name.loraID, source: "file:///\(name)", digest: ContentDigest(bytes: Array(repeating: 1, count: 32)),
            rank: 8, alpha: 16, targetModules: ["q_proj"], bytes: 1
        )
    }

    static func registration(_ id: String, interval: Double = 1, adapters: [AdapterSummary] = []) -> WorkerRegistration {
        WorkerRegistration(
            workerID: WorkerID(id), httpURL: "http://\(id)", servingEndpoint: nil, model: card, adapters: adapters,
            metrics: LoadMetrics(), heartbeatInterval: interval
        )
    }

    @Test func aWorkerDiesAfterThreeMissedHeartbeatsNotBefore() {
        var membership = ClusterMembership(routerID: "r", missedHeartbeatsAllowed: 3)
        membership.register(Self.registration("w1"), peer: [1], now: 100)
        membership.register(Self.registration("w2"), peer: [2], now: 100)
        #expect(membership.heartbeat(WorkerHeartbeat(workerID: WorkerID("w2"), sequence: 1, metrics: LoadMetrics(), adapters: []), peer: [2], now: 102.5)
            == .accepted(viewChanged: false))
        #expect(membership.expire(now: 102.9).isEmpty)
        let dead = membership.expire(now: 103.1)
        #expect(dead.map(\.registration.workerID) == [WorkerID("w1")])
        #expect(membership.view.workers.map(\.workerID) == [WorkerID("w2")])
        #expect(membership.expire(now: 105.6).map(\.registration.workerID) == [WorkerID("w2")])
        #expect(membership.view.workers.isEmpty)
    }

    @Test func heartbeatsFromStrangersAskForRegistration() {
        var membership = ClusterMembership(routerID: "r")
        let heartbeat = WorkerHeartbeat(workerID: WorkerID("ghost"), sequence: 1, metrics: LoadMetrics(), adapters: [])
        #expect(membership.heartbeat(heartbeat, peer: [9], now: 0) == .unknownWorker)
        let event = AdapterEvent(workerID: WorkerID("ghost"), kind: .loaded, adapter: Self.adapter("a"))
        #expect(membership.adapterEvent(event, now: 0) == .unknownWorker)
    }

    @Test func adapterEventsAndHeartbeatsMoveTheViewAndItsVersion() {
        var membership = ClusterMembership(routerID: "r", initialVersion: 500)
        membership.register(Self.registration("w", adapters: [Self.adapter("b")]), peer: [1], now: 0)
        #expect(membership.version == 501)
        let loaded = AdapterEvent(workerID: WorkerID("w"), kind: .loaded, adapter: Self.adapter("a"))
        #expect(membership.adapterEvent(loaded, now: 1) == .accepted(viewChanged: true))
        #expect(membership.view.workers[0].adapters.map(\.name.rawValue) == ["a", "b"])
        #expect(membership.adapterEvent(loaded, now: 1) == .accepted(viewChanged: false))
        #expect(membership.version == 502)
        // A heartbeat's full list is the truth: it heals a lost unload event.
        let heartbeat = WorkerHeartbeat(workerID: WorkerID("w"), sequence: 2, metrics: LoadMetrics(), adapters: [Self.adapter("a")])
        #expect(membership.heartbeat(heartbeat, peer: [1], now: 2) == .accepted(viewChanged: true))
        #expect(membership.view.workers[0].adapters.map(\.name.rawValue) == ["a"])
        #expect(membership.version == 503)
    }

    @Test func goodbyeRemovesAtOnce() {
        var membership = ClusterMembership(routerID: "r")
        membership.register(Self.registration("w"), peer: [1], now: 0)
        #expect(membership.remove(WorkerID("w")) != nil)
        #expect(membership.remove(WorkerID("w")) == nil)
        #expect(membership.view.workers.isEmpty)
    }

    @Test func eachWorkerIsJudgedByItsOwnInterval() {
        var membership = ClusterMembership(routerID: "r", missedHeartbeatsAllowed: 3)
        membership.register(Self.registration("fast", interval: 0.1), peer: [1], now: 0)
        membership.register(Self.registration("slow", interval: 2), peer: [2], now: 0)
        #expect(membership.expire(now: 1).map(\.registration.workerID) == [WorkerID("fast")])
        #expect(membership.expire(now: 5.9).isEmpty)
    }
}

/// Silence is judged by time the router watched and by when messages arrived, so that a stalled
/// or busy router does not declare live workers dead.
struct SilenceTests {
    @Test func gapsLongerThanTheMaximumCountAsTheMaximum() {
        var clock = SilenceClock(maxGap: 1)
        #expect(clock.read(100) == 0)
        #expect(abs(clock.read(100.2) - 0.2) < 1e-9)
        #expect(abs(clock.read(110.2) - 1.2) < 1e-9)
        #expect(abs(clock.read(110.4) - 1.4) < 1e-9)
        // A clock stepped back counts nothing.
        #expect(abs(clock.read(109) - 1.4) < 1e-9)
    }

    @Test func aRouterStalledForSecondsDoesNotDeclareItsWorkersDead() {
        var membership = ClusterMembership(routerID: "r", missedHeartbeatsAllowed: 3, maxObservationGap: 1)
        membership.register(ClusterMembershipTests.registration("w", interval: 0.5), peer: [1], now: 100)
        let beat = WorkerHeartbeat(workerID: WorkerID("w"), sequence: 1, metrics: LoadMetrics(), adapters: [])
        _ = membership.heartbeat(beat, peer: [1], now: 100.7)
        for tick in 1...5 { #expect(membership.expire(now: 100 + 0.2 * Double(tick)).isEmpty) }
        // The router's loops ran 10 s late (paused, or starved of CPU): the heartbeats wait in its
        // queue. Only 1 s of the stall counts: 0.3 + 1 s of silence is within the allowed 1.5 s.
        #expect(membership.expire(now: 111).isEmpty)
        _ = membership.heartbeat(beat, peer: [1], now: 111.05)
        #expect(membership.expire(now: 111.2).isEmpty)
        // A worker that really went silent is declared dead after its 1.5 s, watched tick by tick.
        var dead: [ClusterMembership.Member] = []
        var now = 111.2
        while dead.isEmpty && now < 120 {
            now += 0.2
            dead = membership.expire(now: now)
        }
        #expect(dead.map(\.registration.workerID) == [WorkerID("w")])
        #expect(now > 111.05 + 1.5 && now < 111.05 + 1.5 + 0.25)
    }

    @Test func aMessageThatArrivedButWasNotHandledYetKeepsAWorkerAlive() {
        var membership = ClusterMembership(routerID: "r", missedHeartbeatsAllowed: 3)
        membership.register(ClusterMembershipTests.registration("w", interval: 0.5), peer: [7], now: 100)
        // The socket's thread stamped a heartbeat at 101.4 that the router has not read yet.
        let heard: ([UInt8]) -> Double? = { $0 == [7] ? 101.4 : nil }
        #expect(membership.expire(now: 102, heard: heard).isEmpty)
        #expect(membership.expire(now: 102.95, heard: heard).map(\.registration.workerID) == [WorkerID("w")])
    }
}
