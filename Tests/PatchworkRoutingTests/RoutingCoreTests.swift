import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

/// Scripts of worker messages, KV events and route requests against the router's core, with a
/// manual clock.
struct RoutingCoreTests {
    let w1 = WorkerID("w1"), w2 = WorkerID("w2")
    /// Three blocks of 4 tokens, and a partial one.
    let prompt = Array(1...14)

    static func core(cost: RoutingCost = RoutingCost(), routed: RoutedPromptIndex.Mode = .inFlight(ttl: 5)) -> RoutingCore {
        RoutingCore(
            membership: ClusterMembership(routerID: "r"), cost: cost,
            selector: KVAwareSelector(cost: cost, generator: SplitMix64(seed: 1)), routedPrompts: routed
        )
    }

    static func replay(_ batches: [(Int64, [KVEvent])]) -> KVEventReplay {
        KVEventReplay(requestID: requestID("snapshot"), snapshot: true, batches: batches.map { .init(sequence: $0.0, payload: KVEventBatch(timestamp: 0, events: $0.1).encoded()) })
    }

    /// Registers workers whose snapshots come back empty: their streams expect batch 0.
    static func register(_ registrations: [WorkerRegistration], in core: inout RoutingCore, now: Double = 0) {
        for registration in registrations {
            _ = core.register(registration, peer: [1], now: now)
            _ = core.snapshotArrived(from: registration.workerID, replay: replay([]))
        }
    }

    /// The prompt's first `blocks` blocks, as worker `engine` publishes them (its own hashes).
    func published(_ blocks: Int, engine: UInt64, lora: String? = nil) -> [KVEvent] {
        [Fixtures.stored((0..<UInt64(blocks)).map { engine * 100 + $0 }, tokens: Array(prompt[..<(blocks * 4)]), lora: lora)]
    }

    func overlaps(_ decision: RoutingDecision) -> [WorkerID: Int] {
        Dictionary(uniqueKeysWithValues: decision.candidates.map { ($0.worker, $0.overlap) })
    }

    @Test func aRegistrationIsLearntFromItsSnapshotAndTheBatchesAfterIt() {
        var core = Self.core()
        let request = core.register(Fixtures.registration("w1"), peer: [1], now: 0)
        #expect(request == RoutingCore.SnapshotRequest(worker: w1, endpoint: "tcp://w1:7100", reason: .registration))
        // Batch 0 and 1 arrive before the snapshot, which was taken after batch 0.
        #expect(core.receivedKVBatch(from: w1, sequence: 0, events: published(1, engine: 1)) == nil)
        let second = [Fixtures.stored([102], parent: 101, tokens: Array(prompt[8..<12]))]
        #expect(core.receivedKVBatch(from: w1, sequence: 1, events: second) == nil)
        #expect(core.indexedBlocks(of: w1) == 0)
        let rebuilt = core.snapshotArrived(from: w1, replay: Self.replay([(0, published(2, engine: 1))]))
        #expect(rebuilt)
        #expect(core.indexedBlocks(of: w1) == 3)
        #expect(overlaps(core.route(Fixtures.route(prompt), now: 1)) == [w1: 3])
        // No second snapshot is awaited.
        let again = core.snapshotArrived(from: w1, replay: Self.replay([]))
        #expect(!again)
    }

    @Test func aGapAsksForASnapshotAndTheBatchesMeanwhileWait() {
        var core = Self.core()
        Self.register([Fixtures.registration("w1")], in: &core)
        #expect(core.receivedKVBatch(from: w1, sequence: 0, events: published(1, engine: 1)) == nil)
        let gap = core.receivedKVBatch(from: w1, sequence: 2, events: [.allBlocksCleared])
        #expect(gap == RoutingCore.SnapshotRequest(worker: w1, endpoint: "tcp://w1:7100", reason: .gap(sequence: 2, expected: 1)))
        #expect(core.indexedBlocks(of: w1) == 1)
        #expect(core.receivedKVBatch(from: w1, sequence: 3, events: [Fixtures.stored([500], tokens: [7, 7, 7, 7])]) == nil)
        let rebuilt = core.snapshotArrived(from: w1, replay: Self.replay([(2, published(3, engine: 2))]))
        #expect(rebuilt)
        #expect(core.indexedBlocks(of: w1) == 4)
        // An unknown parent is a gap too.
        let orphan = core.receivedKVBatch(from: w1, sequence: 4, events: [Fixtures.stored([9], parent: 8, tokens: [1, 1, 1, 1])])
        #expect(orphan?.reason == .gap(sequence: 4, expected: 4))
    }

    @Test func eventsFromStrangersAndWithoutEndpointsAskNothing() {
        var core = Self.core()
        #expect(core.receivedKVBatch(from: w1, sequence: 0, events: published(1, engine: 1)) == nil)
        #expect(core.register(Fixtures.registration("w2", snapshots: false), peer: [2], now: 0) == nil)
        #expect(core.receivedKVBatch(from: w2, sequence: 5, events: published(1, engine: 2)) == nil)
        #expect(core.receivedKVBatch(from: w2, sequence: 6, events: published(2, engine: 2)) == nil)
        #expect(core.indexedBlocks(of: w1) == 0 && core.indexedBlocks(of: w2) == 2)
    }

    /// How a worker comes to hold new weights under an old name.
    enum Reload: String, CaseIterable, Sendable {
        /// `adapter_event`s: unloaded, then loaded.
        case events
        /// The events were lost: a heartbeat's full list tells.
        case heartbeat
    }

    /// New weights under an old name: the worker never hits the old blocks (they are hashed by
    /// content digest), so no decision may count them; blocks it computes with the new weights
    /// count again. Another worker still holding the old weights keeps its blocks.
    @Test(arguments: Reload.allCases)
    func afterAReloadUnderTheSameNameNoDecisionCountsTheOldBlocks(reload: Reload) {
        var core = Self.core()
        Self.register([
            Fixtures.registration("w1", adapters: [Fixtures.adapter("a", weights: 1)]),
            Fixtures.registration("w2", adapters: [Fixtures.adapter("a", weights: 1)]),
        ], in: &core)
        _ = core.receivedKVBatch(from: w1, sequence: 0, events: published(3, engine: 1, lora: "a"))
        _ = core.receivedKVBatch(from: w2, sequence: 0, events: published(2, engine: 2, lora: "a"))
        let before = core.route(Fixtures.route(prompt, adapter: "a"), now: 1)
        #expect(overlaps(before) == [w1: 3, w2: 2])
        #expect(before.worker?.registration.workerID == w1)

        let reloaded = Fixtures.adapter("a", weights: 2)
        switch reload {
        case .events:
            _ = core.adapterEvent(AdapterEvent(workerID: w1, kind: .unloaded, adapter: Fixtures.adapter("a", weights: 1)), now: 2)
            _ = core.adapterEvent(AdapterEvent(workerID: w1, kind: .loaded, adapter: reloaded), now: 2)
        case .heartbeat:
            _ = core.heartbeat(WorkerHeartbeat(workerID: w1, sequence: 1, metrics: LoadMetrics(), adapters: [reloaded]), peer: [1], now: 2)
        }
        // Neither w1's old blocks nor the prompt routed to it with the old weights count.
        let after = core.route(Fixtures.route(prompt, adapter: "a", id: "r2"), now: 2)
        #expect(overlaps(after) == [w1: 0, w2: 2])
        #expect(after.worker?.registration.workerID == w2)
        #expect(core.indexedBlocks(of: w1) == 0)

        // The old engine hashes from before the reload: events that arrive late change nothing.
        _ = core.receivedKVBatch(from: w1, sequence: 1, events: [.blockRemoved(.init(blockHashes: [.integer(100)], medium: nil))])
        // Blocks computed with the new weights count.
        _ = core.receivedKVBatch(from: w1, sequence: 2, events: [Fixtures.stored([150, 151, 152], tokens: Array(prompt[..<12]), lora: "a")])
        #expect(overlaps(core.route(Fixtures.route(prompt, adapter: "a", id: "r3"), now: 3))[w1] == 3)
    }

    /// Unloading an adapter drops the worker's blocks of it, and only those.
    @Test func anUnloadDropsThatAdaptersBlocks() {
        var core = Self.core()
        Self.register([Fixtures.registration("w1", adapters: [Fixtures.adapter("a"), Fixtures.adapter("b")])], in: &core)
        _ = core.receivedKVBatch(from: w1, sequence: 0, events: published(3, engine: 1, lora: "a") + published(2, engine: 2, lora: "b") + published(1, engine: 3))
        #expect(core.indexedBlocks(of: w1) == 6)
        _ = core.adapterEvent(AdapterEvent(workerID: w1, kind: .unloaded, adapter: Fixtures.adapter("a")), now: 1)
        #expect(core.indexedBlocks(of: w1) == 3)
        #expect(overlaps(core.route(Fixtures.route(prompt, adapter: "b"), now: 1)) == [w1: 2])
        #expect(overlaps(core.route(Fixtures.route(prompt), now: 1)) == [w1: 1])
    }

    /// A prompt routed moments ago counts as cached on its worker until its events come (here
    /// they never do), for the in-flight TTL.
    @Test func promptsInFlightCountUntilTheirTimeIsUp() {
        // Load counts half, so that a cached prefix outweighs the work just routed there.
        var core = Self.core(cost: RoutingCost(loadWeight: 0.5))
        // Heartbeats a minute apart: the workers outlive the script without any.
        Self.register([Fixtures.registration("w1", heartbeatInterval: 60), Fixtures.registration("w2", heartbeatInterval: 60)], in: &core)
        let first = core.route(Fixtures.route(prompt), now: 10)
        #expect(overlaps(first) == [w1: 0, w2: 0])
        #expect(first.worker?.registration.workerID == w1)
        let second = core.route(Fixtures.route(prompt, id: "r2"), now: 10.01)
        #expect(overlaps(second) == [w1: 3, w2: 0])
        #expect(second.worker?.registration.workerID == w1)
        // A report shows what was routed to w1 so far: it is idle again.
        core.loadReport(from: w1, metrics: LoadMetrics(), now: 14.8)
        _ = core.expire(now: 14.9)
        let third = core.route(Fixtures.route(Array(prompt[..<8]), id: "r3"), now: 14.9)
        #expect(overlaps(third)[w1] == 2 && third.worker?.registration.workerID == w1)
        // r3 refreshed the first two blocks; the third one expires with r2, 5 s after it.
        _ = core.expire(now: 15.05)
        #expect(overlaps(core.route(Fixtures.route(prompt, id: "r4"), now: 15.05)) == [w1: 2, w2: 0])
        _ = core.expire(now: 20.1)
        #expect(core.view.workers.count == 2)
        #expect(overlaps(core.route(Fixtures.route(prompt, id: "r5"), now: 20.1)) == [w1: 0, w2: 0])
        // Decisions in flight never were the worker's own blocks.
        #expect(core.indexedBlocks(of: w1) == 0)
    }

    /// Approximate mode: the router's own decisions are the index; engines' events are ignored
    /// and no snapshots are asked for.
    @Test func approximateModeIndexesDecisionsOnly() {
        var core = Self.core(cost: RoutingCost(loadWeight: 0.5), routed: .approximate(ttl: 30))
        #expect(core.register(Fixtures.registration("w1", heartbeatInterval: 60), peer: [1], now: 0) == nil)
        _ = core.register(Fixtures.registration("w2", heartbeatInterval: 60), peer: [2], now: 0)
        #expect(core.receivedKVBatch(from: w2, sequence: 0, events: published(3, engine: 2)) == nil)
        #expect(core.indexedBlocks(of: w2) == 0)
        #expect(core.route(Fixtures.route(prompt), now: 1).worker?.registration.workerID == w1)
        #expect(core.indexedBlocks(of: w1) == 3)
        let next = core.route(Fixtures.route(prompt, id: "r2"), now: 2)
        #expect(overlaps(next) == [w1: 3, w2: 0])
        _ = core.expire(now: 31.5)
        #expect(core.indexedBlocks(of: w1) == 3)
        _ = core.expire(now: 32.5)
        #expect(core.indexedBlocks(of: w1) == 0)
        #expect(core.view.workers.count == 2)
    }

    /// The work routed to a worker counts towards its load until a report shows it: a burst of
    /// requests spreads before any report comes.
    @Test func routedWorkCountsUntilALoadReportShowsIt() {
        var core = Self.core()
        Self.register([Fixtures.registration("w1"), Fixtures.registration("w2")], in: &core)
        func chosen(_ tokens: [Int], _ now: Double) -> String? { core.route(Fixtures.route(tokens), now: now).worker?.registration.workerID.rawValue }
        #expect(chosen(Array(100..<112), 1) == "w1")
        #expect(chosen(Array(200..<212), 1) == "w2")
        #expect(chosen(Array(300..<312), 1) == "w1")
        // w1 reports 2 blocks of work: what was routed there before is in the report.
        core.loadReport(from: w1, metrics: LoadMetrics(kvBlocksUsed: 2), now: 1.2)
        let next = core.route(Fixtures.route(Array(400..<412)), now: 1.2)
        #expect(next.candidates.map(\.busyBlocks).sorted() == [2, 4])
        #expect(next.worker?.registration.workerID == w1)
    }

    /// A worker that dies takes its blocks along; its adapter can then be placed on demand, on
    /// a worker that loads it first, until it is unloaded on purpose.
    @Test func anAdapterWhoseWorkerDiedIsPlacedOnDemand() {
        var core = Self.core()
        Self.register([
            Fixtures.registration("w1", adapters: [Fixtures.adapter("a", source: "s3://b/a")]),
            Fixtures.registration("w2"), Fixtures.registration("w3", lora: false),
        ], in: &core)
        _ = core.receivedKVBatch(from: w1, sequence: 0, events: published(3, engine: 1, lora: "a"))
        _ = core.heartbeat(WorkerHeartbeat(workerID: w2, sequence: 1, metrics: LoadMetrics(), adapters: []), peer: [2], now: 3.5)
        _ = core.heartbeat(WorkerHeartbeat(workerID: WorkerID("w3"), sequence: 1, metrics: LoadMetrics(), adapters: []), peer: [3], now: 3.5)
        #expect(core.expire(now: 3.5).map(\.registration.workerID) == [w1])
        #expect(core.indexedBlocks(of: w1) == 0)
        #expect(core.view.loadable == [LoadableAdapter(name: try! AdapterName("a"), model: modelName("m"), source: "s3://b/a")])

        let route = Fixtures.route(prompt, adapter: "a")
        let placed = core.route(route, now: 3.6)
        #expect(placed.candidates == [RoutingCost.Candidate(worker: w2, overlap: 0, busyBlocks: 0, residency: .absent, freeSlots: 8)])
        #expect(placed.message(for: route) == RouteDecision(
            requestID: requestID("r"), workerID: w2, servingEndpoint: "tcp://w2:7100", reason: nil, refusal: nil, loadSource: "s3://b/a"
        ))

        // w2 loaded it, then unloads it on purpose: nobody is to bring it back.
        _ = core.adapterEvent(AdapterEvent(workerID: w2, kind: .loaded, adapter: Fixtures.adapter("a", source: "s3://b/a")), now: 4)
        #expect(core.view.loadable.isEmpty)
        _ = core.adapterEvent(AdapterEvent(workerID: w2, kind: .unloaded, adapter: Fixtures.adapter("a", source: "s3://b/a")), now: 4.1)
        let refused = core.route(route, now: 4.2)
        #expect(refused.worker == nil && refused.refusal == .modelNotFound)
        #expect(refused.message(for: route).reason == "no live worker serves a")
    }

    @Test func aServedAdapterWithoutAFreeWorkerIsUnavailable() {
        var core = Self.core()
        Self.register([Fixtures.registration("w1", adapters: [Fixtures.adapter("a")])], in: &core)
        let decision = core.route(Fixtures.route(prompt, adapter: "a", excluding: ["w1"]), now: 1)
        #expect(decision.worker == nil && decision.refusal == .noWorkerAvailable)
        #expect(core.route(Fixtures.route(prompt, model: "nothing"), now: 1).refusal == .noWorkerAvailable)
    }

    /// Declared adapters are sources too: placed on demand beyond their replicas.
    @Test func declaredAdaptersAreLoadable() {
        var core = Self.core()
        Self.register([Fixtures.registration("w1")], in: &core)
        let name = try! AdapterName("sql")
        let declaration = AdapterDeclaration(objectName: "o", loraName: name, baseModel: modelName("m"), source: "s3://b/sql", replicas: 1, generation: 1)
        let plan = core.reconcile([declaration], loading: [], failures: [:])
        #expect(plan.actions == [.load(worker: w1, http: "http://w1", name: name, source: "s3://b/sql", objectName: "o")])
        #expect(core.view.loadable.map(\.source) == ["s3://b/sql"])
        #expect(core.route(Fixtures.route(prompt, adapter: "sql"), now: 1).loadSource == "s3://b/sql")
        _ = core.reconcile([], loading: [], failures: [:])
        #expect(core.view.loadable.isEmpty)
    }

    /// A worker that registers again (it restarted) is learnt anew: its old blocks are gone
    /// until its snapshot comes.
    @Test func aReRegisteredWorkerStartsFromItsSnapshot() {
        var core = Self.core()
        Self.register([Fixtures.registration("w1")], in: &core)
        _ = core.receivedKVBatch(from: w1, sequence: 0, events: published(3, engine: 1))
        #expect(core.register(Fixtures.registration("w1"), peer: [9], now: 5)?.reason == .registration)
        #expect(core.indexedBlocks(of: w1) == 0)
        #expect(core.receivedKVBatch(from: w1, sequence: 0, events: published(1, engine: 2)) == nil)
        let rebuilt = core.snapshotArrived(from: w1, replay: Self.replay([]))
        #expect(rebuilt)
        #expect(core.indexedBlocks(of: w1) == 1)
        #expect(core.goodbye(w1) != nil)
        #expect(core.indexedBlocks(of: w1) == 0 && core.view.workers.isEmpty)
    }
}
