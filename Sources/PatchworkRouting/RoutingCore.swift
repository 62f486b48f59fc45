import PatchworkCore

/// The router's state and decisions as one pure value: the router process feeds it every
/// message with the time it arrived and carries out what it returns; `patchwork-router bench`
/// drives the same value.
///
/// It composes:
/// - ``ClusterMembership``: live workers, their adapters and load;
/// - ``PrefixIndex``: the blocks each worker caches, from its KV events (``KVStreamTracker``
///   per worker), keyed by adapter name and content digest: the digest of a `lora_name` is the
///   one the worker holds when its events arrive, and a worker's blocks of a name are dropped
///   when it unloads the name or holds other weights under it;
/// - ``RoutedPromptIndex``: the router's own recent decisions in the index;
/// - ``UnreportedWork``: what was routed to each worker since its last load report;
/// - ``AdapterSourceBook``: what can be placed on demand, and the declarations;
/// - the decision (``route(_:now:)``): ``CandidateFilter``, ``RoutingCost``, a ``WorkerSelector``.
public struct RoutingCore: Sendable {
    /// A worker whose cache the router must learn again from a snapshot.
    public struct SnapshotRequest: Sendable, Equatable {
        public enum Reason: Sendable, Equatable {
            /// The worker (re)registered: its events may predate this router.
            case registration
            /// Batch `sequence` was not the next one (`expected`), or linked to an unknown parent.
            case gap(sequence: Int64, expected: Int64)
        }

        public var worker: WorkerID
        /// The worker's serving endpoint, which answers `kv_events_request`.
        public var endpoint: String
        public var reason: Reason

        public init(worker: WorkerID, endpoint: String, reason: Reason) {
            self.worker = worker
            self.endpoint = endpoint
            self.reason = reason
        }
    }

    public private(set) var membership: ClusterMembership
    public let cost: RoutingCost
    var selector: any WorkerSelector
    var index = PrefixIndex(blockSize: KVBlock.defaultSize)
    private var streams: [WorkerID: KVStreamTracker] = [:]
    var routed: RoutedPromptIndex
    var unreported: UnreportedWork
    public private(set) var sources = AdapterSourceBook()
    /// Per worker, the digest of each adapter it holds by name: what its events' `lora_name`s
    /// resolve to, and the key of its blocks in the index.
    var digests: [WorkerID: [String: ContentDigest]] = [:]

    /// - Parameters:
    ///   - selector: how a worker is chosen among the candidates (``RoutingPolicy/selector(cost:generator:)``).
    ///   - routedPrompts: in-flight indexing with KV events, or approximate mode without.
    ///   - reportLag: see ``UnreportedWork``.
    public init(
        membership: ClusterMembership, cost: RoutingCost, selector: any WorkerSelector, routedPrompts: RoutedPromptIndex.Mode,
        reportLag: Double = 0.1
    ) {
        self.membership = membership
        self.cost = cost
        self.selector = selector
        routed = RoutedPromptIndex(mode: routedPrompts)
        unreported = UnreportedWork(reportLag: reportLag)
    }

    /// The membership's view, with the adapters no live worker holds but the router can place.
    public var view: ClusterView {
        var view = membership.view
        let held = Set(membership.members.values.flatMap { $0.adapters.map(\.name) })
        view.loadable = sources.loadable(excluding: held)
        return view
    }

    /// Blocks the index holds for `worker` (from its events, not counting decisions in flight).
    public func indexedBlocks(of worker: WorkerID) -> Int { index.blockCount(of: worker) }

    // MARK: Membership

    /// A worker (re)registered: its cache is learnt again from a snapshot, when it can send one.
    public mutating func register(_ registration: WorkerRegistration, peer: [UInt8], now: Double) -> SnapshotRequest? {
        let worker = registration.workerID
        membership.register(registration, peer: peer, now: now)
        syncDigests(of: worker)
        index.removeWorker(worker)
        learnSources(of: worker)
        var stream = KVStreamTracker(canSnapshot: registration.servingEndpoint != nil && routed.followsEngineEvents)
        let actions = stream.registered()
        streams[worker] = stream
        return perform(actions, worker: worker, reason: .registration)
    }

    public mutating func heartbeat(_ heartbeat: WorkerHeartbeat, peer: [UInt8], now: Double) -> ClusterMembership.Outcome {
        let outcome = membership.heartbeat(heartbeat, peer: peer, now: now)
        guard outcome != .unknownWorker else { return outcome }
        unreported.reportArrived(from: heartbeat.workerID, now: now)
        learnSources(of: heartbeat.workerID)
        syncDigests(of: heartbeat.workerID)
        return outcome
    }

    public mutating func adapterEvent(_ event: AdapterEvent, now: Double) -> ClusterMembership.Outcome {
        let outcome = membership.adapterEvent(event, now: now)
        guard outcome != .unknownWorker else { return outcome }
        if event.kind == .loaded {
            learnSources(of: event.workerID)
        } else {
            let stillHeld = membership.members.values.contains { $0.adapters.contains { $0.name == event.adapter.name } }
            sources.unloaded(event.adapter.name, stillHeld: stillHeld)
        }
        syncDigests(of: event.workerID)
        return outcome
    }

    /// A load report published between heartbeats.
    public mutating func loadReport(from worker: WorkerID, metrics: LoadMetrics, now: Double) {
        guard membership.updateLoad(worker, metrics: metrics) else { return }
        unreported.reportArrived(from: worker, now: now)
    }

    /// A worker said goodbye; returns it when it was live.
    public mutating func goodbye(_ worker: WorkerID) -> ClusterMembership.Member? {
        forget(worker)
        return membership.remove(worker)
    }

    /// Drops expired decisions from the index and declares silent workers dead; returns them.
    /// - Parameter heard: when the transport last received anything from a peer.
    public mutating func expire(now: Double, heard: ([UInt8]) -> Double? = { _ in nil }) -> [ClusterMembership.Member] {
        routed.expire(now: now, from: &index)
        let dead = membership.expire(now: now, heard: heard)
        for member in dead { forget(member.registration.workerID) }
        return dead
    }

    /// What the adapter controller must do to make the live workers match the declarations
    /// (``DeclarationReconciler``); declared adapters become known sources.
    public mutating func reconcile(
        _ declarations: [AdapterDeclaration], loading: Set<DeclarationPlan.PendingLoad>, failures: [String: String]
    ) -> DeclarationPlan {
        let plan = DeclarationReconciler.plan(
            declarations, previous: sources.declared, members: membership.members.values, loading: loading, failures: failures
        )
        sources.declare(declarations)
        return plan
    }

    // MARK: KV events

    /// One published batch of a worker's KV events. Returns a snapshot request when it shows a
    /// gap. Ignored in approximate mode and from workers not registered.
    public mutating func receivedKVBatch(from worker: WorkerID, sequence: Int64, events: [KVEvent]) -> SnapshotRequest? {
        guard routed.followsEngineEvents, membership.members[worker] != nil, var stream = streams[worker] else { return nil }
        let expected: Int64 = if case .following(let last?) = stream.state { last + 1 } else { 0 }
        let actions = stream.received(KVStreamTracker.Batch(sequence: sequence, events: events))
        streams[worker] = stream
        return perform(actions, worker: worker, reason: .gap(sequence: sequence, expected: expected))
    }

    /// A worker's snapshot (``KVEventReplay``) arrived. Returns whether it rebuilt the worker's
    /// blocks (false when no snapshot was awaited).
    public mutating func snapshotArrived(from worker: WorkerID, replay: KVEventReplay) -> Bool {
        guard membership.members[worker] != nil, var stream = streams[worker] else { return false }
        let batches = replay.batches.map { batch in (sequence: batch.sequence, events: try? KVEventBatch(decoding: batch.payload).events) }
        let actions = stream.snapshotArrived(batches)
        streams[worker] = stream
        _ = perform(actions, worker: worker, reason: .registration)
        return !actions.isEmpty
    }

    /// Carries out a stream's actions on the index; returns the snapshot request among them.
    private mutating func perform(_ actions: [KVStreamTracker.Action], worker: WorkerID, reason: SnapshotRequest.Reason) -> SnapshotRequest? {
        var request: SnapshotRequest?
        for action in actions {
            switch action {
            case .apply(let events):
                if !index.apply(events, from: worker, digests: digests[worker] ?? [:]), var stream = streams[worker] {
                    let more = stream.parentUnknown()
                    streams[worker] = stream
                    request = perform(more, worker: worker, reason: reason) ?? request
                }
            case .requestSnapshot:
                guard let endpoint = membership.members[worker]?.registration.servingEndpoint else { continue }
                request = SnapshotRequest(worker: worker, endpoint: endpoint, reason: reason)
            case .rebuild(let lists):
                index.removeWorker(worker)
                for events in lists { index.apply(events, from: worker, digests: digests[worker] ?? [:]) }
            }
        }
        return request
    }

    // MARK: Bookkeeping

    private mutating func learnSources(of worker: WorkerID) {
        guard let member = membership.members[worker] else { return }
        sources.learn(from: member)
    }

    /// Takes note of the digests a worker holds now; its blocks (and decisions in flight) of a
    /// name whose digest changed or that it no longer holds can never be hit again.
    private mutating func syncDigests(of worker: WorkerID) {
        guard let member = membership.members[worker] else { return }
        let held = Dictionary(member.adapters.map { ($0.name.rawValue, $0.digest) }, uniquingKeysWith: { first, _ in first })
        let before = digests[worker] ?? [:]
        guard held != before else { return }
        for (name, digest) in before where held[name] != digest {
            let namespace = PrefixIndex.Namespace(adapter: name, digest: digest)
            index.removeBlocks(in: namespace, of: worker)
            index.removeBlocks(in: namespace, of: routed.indexID(of: worker))
        }
        digests[worker] = held
    }

    private mutating func forget(_ worker: WorkerID) {
        index.removeWorker(worker)
        index.removeWorker(routed.indexID(of: worker))
        routed.forget(worker)
        unreported.forget(worker)
        streams[worker] = nil
        digests[worker] = nil
    }
}
