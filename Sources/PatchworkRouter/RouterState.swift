import Foundation
import Logging
import Metrics
import PatchworkCore
import PatchworkRouting

/// The router's shared state: membership and subscribed frontends. Every input goes through
/// here; each method returns the messages to send, so the socket code stays apart from logic.
actor RouterState {
    /// A message for one peer on the control socket.
    struct Reply: Sendable {
        var peer: [UInt8]
        var message: ControlMessage
    }

    private struct Frontend {
        var peer: [UInt8]
        var lastSeen: Double
    }

    /// A frontend that has not pinged for this long is forgotten (it pings every second).
    static let frontendTimeout = 5.0
    /// The router reads its clock every 200 ms (``RouterService``); a longer gap means the router
    /// itself was stalled, and beyond this it does not count as its workers' silence.
    static let maxObservationGap = 1.0

    private var membership: ClusterMembership
    private var frontends: [String: Frontend] = [:]
    private var index = PrefixIndex(blockSize: 16)
    private let cost: RoutingCost
    private let policy: RoutingPolicy
    private var roundRobinNext = 0
    /// Approximate mode (`--no-kv-events`): the index is fed by the router's own decisions.
    private var approximate: ApproximateCache?
    /// With KV events: prompts routed in the last seconds, indexed under a pseudo worker per
    /// worker until the engine's own events arrive, so that concurrent requests sharing a prefix
    /// that is still being computed see it (events only tell of blocks already stored).
    private var inFlight = ApproximateCache(ttl: RouterState.inFlightTTL, blockSize: 16)
    static let inFlightTTL = 5.0
    /// How long a routed request takes, at most, to show in its worker's load report.
    static let reportLag = 0.1
    /// Where each adapter seen on a worker came from, so that it can be loaded elsewhere when
    /// its workers die. Forgotten when the last worker holding it unloads it on purpose.
    private var adapterSources: [AdapterName: LoadableAdapter] = [:]
    /// Prompt blocks routed to each worker since its last load report (the report does not
    /// show them yet): (time, blocks).
    private var pendingBlocks: [WorkerID: [(Double, Int)]] = [:]
    /// Adapters declared by `PatchworkAdapter` objects (Kubernetes), by name.
    private var declared: [AdapterName: AdapterDeclaration] = [:]
    private var random = SystemRandomNumberGenerator()
    /// The last KV-event sequence number applied per worker.
    private var lastSequence: [WorkerID: Int64] = [:]
    /// Workers whose snapshot is on its way, with the batches that arrived meanwhile.
    private var awaitingSnapshot: [WorkerID: [(Int64, [KVEvent])]] = [:]
    private let kvBlocksIndexed = Gauge(label: "patchwork_router_indexed_blocks")
    private let snapshotsRequested = Counter(label: "patchwork_router_kv_snapshots_requested_total")

    /// A worker whose cache the router must learn again from a snapshot.
    struct SnapshotRequest: Sendable {
        var worker: WorkerID
        var endpoint: String
    }
    private let eventsPort: Int
    private let logger: Logger
    private let liveWorkers = Gauge(label: "patchwork_router_live_workers")
    private let deadWorkers = Counter(label: "patchwork_router_dead_workers_total")
    private let refusedMessages = Counter(label: "patchwork_router_refused_messages_total")
    private let routeDecisions = Counter(label: "patchwork_router_route_decisions_total")
    /// Decisions that sent a request to a worker that must load its adapter first.
    private let onDemandPlacements = Counter(label: "patchwork_router_on_demand_placements_total")

    init(
        routerID: String, missedHeartbeatsAllowed: Int, eventsPort: Int, cost: RoutingCost = RoutingCost(),
        policy: RoutingPolicy = .kv, approximate: ApproximateCache? = nil, logger: Logger
    ) {
        self.cost = cost
        self.policy = policy
        self.approximate = approximate
        membership = ClusterMembership(
            routerID: routerID, missedHeartbeatsAllowed: missedHeartbeatsAllowed,
            initialVersion: UInt64(Date().timeIntervalSince1970 * 1_000_000), maxObservationGap: Self.maxObservationGap
        )
        self.eventsPort = eventsPort
        self.logger = logger
    }

    /// The membership's view, with the adapters no live worker holds but the router can place.
    var view: ClusterView {
        var view = membership.view
        let held = Set(membership.members.values.flatMap { $0.adapters.map(\.name) })
        view.loadable = adapterSources.values.filter { !held.contains($0.name) }.sorted { $0.name < $1.name }
        return view
    }

    /// Handles one control message from `peer`.
    func receive(_ bytes: [UInt8], from peer: [UInt8], now: Double) -> [Reply] {
        let message: ControlMessage
        do {
            message = try ControlMessage(decoding: bytes)
        } catch {
            refusedMessages.increment()
            logger.warning("refusing control message", metadata: ["error": "\(error)"])
            return [Reply(peer: peer, message: .refused(Refusal(reason: error.description)))]
        }
        let versionBefore = membership.version
        var replies: [Reply] = []
        switch message {
        case .register(let registration):
            // A (re)registered worker's cache is learnt again from its snapshot.
            index.removeWorker(registration.workerID)
            lastSequence[registration.workerID] = nil
            membership.register(registration, peer: peer, now: now)
            logger.info("worker registered", metadata: [
                "worker.id": "\(registration.workerID)", "worker.http": "\(registration.httpURL)",
                "model": "\(registration.model.servedModelName)", "adapters": "\(registration.adapters.count)",
            ])
            replies.append(Reply(peer: peer, message: .registered(RegistrationAck(
                workerID: registration.workerID, routerID: membership.routerID, eventsPort: eventsPort
            ))))
            learnSources(of: registration.workerID)
        case .heartbeat(let heartbeat):
            if membership.heartbeat(heartbeat, peer: peer, now: now) == .unknownWorker {
                replies.append(Reply(peer: peer, message: .unknownWorker(heartbeat.workerID)))
            } else {
                // The report includes what was routed there well before it (a request takes a few
                // milliseconds to reach the engine); later decisions stay pending.
                pendingBlocks[heartbeat.workerID]?.removeAll { $0.0 < now - Self.reportLag }
                if pendingBlocks[heartbeat.workerID]?.isEmpty == true { pendingBlocks[heartbeat.workerID] = nil }
                learnSources(of: heartbeat.workerID)
            }
        case .adapterEvent(let event):
            if membership.adapterEvent(event, now: now) == .unknownWorker {
                replies.append(Reply(peer: peer, message: .unknownWorker(event.workerID)))
            } else {
                if let sequence = event.sequence {
                    replies.append(Reply(peer: peer, message: .adapterEventAck(AdapterEventAck(workerID: event.workerID, sequence: sequence))))
                }
                logger.info("adapter \(event.kind.rawValue)", metadata: ["worker.id": "\(event.workerID)", "adapter.name": "\(event.adapter.name)"])
                if event.kind == .loaded {
                    learnSources(of: event.workerID)
                } else if !membership.members.values.contains(where: { $0.adapters.contains { $0.name == event.adapter.name } }) {
                    // Unloaded on purpose from its last worker: not to be loaded again on demand.
                    adapterSources[event.adapter.name] = nil
                }
            }
        case .goodbye(let workerID):
            forget(workerID)
            if membership.remove(workerID) != nil {
                logger.info("worker left", metadata: ["worker.id": "\(workerID)"])
            }
        case .frontendPing(let ping):
            if frontends[ping.frontendID] == nil {
                logger.info("frontend subscribed", metadata: ["frontend.id": "\(ping.frontendID)"])
            }
            frontends[ping.frontendID] = Frontend(peer: peer, lastSeen: now)
            let current = ping.knownVersion == membership.version
            replies.append(Reply(peer: peer, message: current ? .viewUnchanged(version: membership.version) : .clusterView(view)))
        case .routeRequest(let route):
            let chosen = decide(route, now: now)
            routeDecisions.increment()
            let refusal: RouteDecision.Refusal? = chosen != nil ? nil : (serves(route) ? .noWorkerAvailable : .modelNotFound)
            replies.append(Reply(peer: peer, message: .routeDecision(RouteDecision(
                requestID: route.requestID, workerID: chosen?.member.registration.workerID, servingEndpoint: chosen?.member.registration.servingEndpoint,
                reason: chosen == nil ? "no live worker serves \(route.adapter ?? route.model)" : nil, refusal: refusal, loadSource: chosen?.loadSource
            ))))
        case .refused(let refusal):
            logger.error("peer refused a message", metadata: ["reason": "\(refusal.reason)"])
        case .registered, .adapterEventAck, .unknownWorker, .clusterView, .viewUnchanged, .routeDecision:
            logger.warning("unexpected message for a router", metadata: ["type": "\(message.typeName)"])
        }
        if membership.version != versionBefore { replies += broadcastView() }
        return replies
    }

    /// A load report published between heartbeats.
    func updateLoad(worker: WorkerID, metrics: LoadMetrics, now: Double) {
        guard membership.updateLoad(worker, metrics: metrics) else { return }
        pendingBlocks[worker]?.removeAll { $0.0 < now - Self.reportLag }
        if pendingBlocks[worker]?.isEmpty == true { pendingBlocks[worker] = nil }
    }

    /// Whether the cluster serves what `route` asks for: an adapter some live worker holds or whose
    /// source is known (it can be placed on demand), or a base model. A base model without live
    /// workers is the frontend's to judge (it remembers which models were served).
    private func serves(_ route: RouteRequest) -> Bool {
        guard let adapter = route.adapter else { return true }
        guard let name = try? AdapterName(adapter) else { return false }
        return adapterSources[name] != nil || membership.members.values.contains { m in m.adapters.contains { $0.name == name } }
    }

    /// Declares silent workers dead and forgets silent frontends.
    /// - Parameter heard: when the control socket last received anything from a peer.
    func expire(now: Double, heard: @Sendable ([UInt8]) -> Double? = { _ in nil }) -> [Reply] {
        if var cache = approximate {
            for (worker, events) in cache.expire(now: now) { index.apply(events, from: worker) }
            approximate = cache
        }
        for (pseudo, events) in inFlight.expire(now: now) { index.apply(events, from: pseudo) }
        for (id, frontend) in frontends where now - frontend.lastSeen > Self.frontendTimeout {
            frontends[id] = nil
            logger.info("frontend gone", metadata: ["frontend.id": "\(id)"])
        }
        let dead = membership.expire(now: now, heard: heard)
        guard !dead.isEmpty else { return [] }
        for member in dead {
            forget(member.registration.workerID)
            deadWorkers.increment()
            logger.warning("worker declared dead", metadata: [
                "worker.id": "\(member.registration.workerID)",
                "silent.seconds": "\(now - member.lastSeenWall)",
                "adapters": "\(member.adapters.count)",
            ])
        }
        return broadcastView()
    }

    /// The worker for a request: the cheapest by ``RoutingCost`` among live workers of the model
    /// that hold the adapter (when one is asked for). When none holds it but its source is known,
    /// every worker of the model that serves adapters is a candidate, and the chosen one is told
    /// to load it. Every candidate's score is logged at debug.
    private func decide(_ route: RouteRequest, now: Double) -> (member: ClusterMembership.Member, loadSource: String?)? {
        let excluded = Set(route.excluding)
        let ofModel = membership.members.values.filter { m in
            m.registration.model.servedModelName == route.model && !excluded.contains(m.registration.workerID)
        }
        var candidates = ofModel
        var loadSource: String?
        if let adapter = route.adapter {
            candidates = ofModel.filter { m in m.adapters.contains { $0.name.rawValue == adapter } }
            let heldAnywhere = membership.members.values.contains { m in m.adapters.contains { $0.name.rawValue == adapter } }
            if candidates.isEmpty, !heldAnywhere, let name = try? AdapterName(adapter), let known = adapterSources[name], known.model == route.model {
                candidates = ofModel.filter { $0.registration.model.lora.enabled }
                loadSource = known.source
            }
        }
        // Costs are in blocks of the first candidate's size; each worker's overlap is matched in
        // its own block size (workers may differ) and converted.
        let blockSize = max(1, candidates.first?.registration.model.kvBlockSize ?? 16)
        var overlapsBySize: [Int: [WorkerID: Int]] = [:]
        func overlap(of worker: WorkerID, size: Int) -> Int {
            if overlapsBySize[size] == nil { overlapsBySize[size] = index.overlap(tokens: route.promptIDs, adapter: route.adapter, blockSize: size) }
            let blocks = max(overlapsBySize[size]?[worker] ?? 0, overlapsBySize[size]?[Self.inFlightID(worker)] ?? 0)
            return blocks * size / blockSize
        }
        let promptBlocks = route.promptIDs.count / blockSize
        let scored = candidates.map { m in
            let id = m.registration.workerID
            let pending = pendingBlocks[id]?.reduce(0) { $0 + $1.1 } ?? 0
            let residency: RoutingCost.Residency? = route.adapter.map { name in
                loadSource != nil ? .absent : RoutingCost.Residency(rawValue: m.metrics.adapters.first { $0.name == name }?.tier ?? "resident") ?? .resident
            }
            let cached = overlap(of: id, size: max(1, m.registration.model.kvBlockSize))
            return RoutingCost.Candidate(
                worker: id, overlap: cached, busyBlocks: m.metrics.busyBlocks(blockSize: blockSize) + pending, residency: residency,
                freeSlots: max(0, m.registration.model.lora.maxLoras - m.metrics.residentAdapters)
            )
        }
        let choice: (worker: WorkerID, cost: Double)?
        switch policy {
        case .kv:
            choice = cost.choose(scored, promptBlocks: promptBlocks, using: &random)
        case .roundRobin:
            let ordered = scored.sorted { $0.worker < $1.worker }
            roundRobinNext += 1
            if ordered.isEmpty {
                choice = nil
            } else {
                let picked = ordered[(roundRobinNext - 1) % ordered.count]
                choice = (picked.worker, cost.cost(picked, promptBlocks: promptBlocks))
            }
        case .random:
            choice = scored.randomElement(using: &random).map { ($0.worker, cost.cost($0, promptBlocks: promptBlocks)) }
        }
        logger.debug("route decision", metadata: [
            "request.id": "\(route.requestID)", "model": "\(route.model)", "adapter.name": "\(route.adapter ?? "")",
            "worker.id": "\(choice?.worker.rawValue ?? "none")", "prompt.blocks": "\(promptBlocks)", "load.source": "\(loadSource ?? "")",
            "scores": "\(scored.map { "\($0.worker)=\(cost.cost($0, promptBlocks: promptBlocks)) (overlap \($0.overlap), busy \($0.busyBlocks))" }.joined(separator: "; "))",
        ])
        guard let choice, let member = membership.members[choice.worker] else { return nil }
        if loadSource != nil { onDemandPlacements.increment() }
        let chosenOverlap = scored.first { $0.worker == choice.worker }?.overlap ?? 0
        let newBlocks = max(0, promptBlocks - chosenOverlap) + 1
        pendingBlocks[choice.worker, default: []].append((now, newBlocks))
        let chosenSize = max(1, member.registration.model.kvBlockSize)
        if var cache = approximate {
            index.apply(cache.record(tokens: route.promptIDs, adapter: route.adapter, worker: choice.worker, now: now, blockSize: chosenSize), from: choice.worker)
            approximate = cache
        } else {
            let pseudo = Self.inFlightID(choice.worker)
            index.apply(inFlight.record(tokens: route.promptIDs, adapter: route.adapter, worker: pseudo, now: now, blockSize: chosenSize), from: pseudo)
        }
        return (member, loadSource)
    }

    /// What the adapter controller must do to make the live workers match the declarations
    /// (``DeclarationReconciler``); declared adapters become known sources, and those no longer
    /// declared are forgotten.
    func reconcile(_ declarations: [AdapterDeclaration], loading: Set<DeclarationPlan.PendingLoad>, failures: [String: String]) -> DeclarationPlan {
        let plan = DeclarationReconciler.plan(declarations, previous: declared, members: membership.members.values, loading: loading, failures: failures)
        let wanted = Dictionary(declarations.map { ($0.loraName, $0) }, uniquingKeysWith: { first, _ in first })
        for name in declared.keys where wanted[name] == nil { adapterSources[name] = nil }
        declared = wanted
        for declaration in wanted.values {
            adapterSources[declaration.loraName] = LoadableAdapter(name: declaration.loraName, model: declaration.baseModel, source: declaration.source)
        }
        return plan
    }

    /// Remembers the sources of a worker's adapters.
    private func learnSources(of worker: WorkerID) {
        guard let member = membership.members[worker] else { return }
        for adapter in member.adapters {
            adapterSources[adapter.name] = LoadableAdapter(name: adapter.name, model: member.registration.model.servedModelName, source: adapter.source)
        }
    }

    /// The pseudo worker under which prompts routed to `worker` are indexed while in flight.
    static func inFlightID(_ worker: WorkerID) -> WorkerID { WorkerID("in-flight:" + worker.rawValue) }

    private func forget(_ worker: WorkerID) {
        index.removeWorker(worker)
        index.removeWorker(Self.inFlightID(worker))
        inFlight.forget(Self.inFlightID(worker))
        approximate?.forget(worker)
        pendingBlocks[worker] = nil
        lastSequence[worker] = nil
        awaitingSnapshot[worker] = nil
    }

    /// Applies one published batch of a worker's KV events. Returns a snapshot request when the
    /// batch shows a gap (a skipped sequence number, or a block whose parent is unknown).
    func ingest(worker: WorkerID, sequence: Int64, events: [KVEvent]) -> SnapshotRequest? {
        // In approximate mode the index holds the router's own decisions only.
        guard approximate == nil else { return nil }
        guard let member = membership.members[worker] else { return nil }
        if awaitingSnapshot[worker] != nil {
            awaitingSnapshot[worker]!.append((sequence, events))
            return nil
        }
        let expected = lastSequence[worker].map { $0 + 1 }
        let consistent = (expected == nil && sequence == 0) || expected == sequence
        lastSequence[worker] = sequence
        if consistent && index.apply(events, from: worker) {
            kvBlocksIndexed.record(index.blockCount(of: worker))
            return nil
        }
        guard let endpoint = member.registration.servingEndpoint else { return nil }
        logger.notice("KV event gap; asking for a snapshot", metadata: ["worker.id": "\(worker)", "sequence": "\(sequence)", "expected": "\(expected.map(String.init) ?? "0")"])
        awaitingSnapshot[worker] = []
        snapshotsRequested.increment()
        return SnapshotRequest(worker: worker, endpoint: endpoint)
    }

    /// A worker registered: learn its cache from a snapshot (its events may predate this router).
    func snapshotRequest(for worker: WorkerID) -> SnapshotRequest? {
        guard approximate == nil else { return nil }
        guard let endpoint = membership.members[worker]?.registration.servingEndpoint else { return nil }
        awaitingSnapshot[worker] = []
        snapshotsRequested.increment()
        return SnapshotRequest(worker: worker, endpoint: endpoint)
    }

    /// Replaces a worker's blocks with a snapshot, then applies the batches that came after it.
    func applySnapshot(worker: WorkerID, replay: KVEventReplay) {
        guard membership.members[worker] != nil, let buffered = awaitingSnapshot.removeValue(forKey: worker) else { return }
        index.removeWorker(worker)
        var last: Int64 = -1
        for batch in replay.batches {
            if let events = try? KVEventBatch(decoding: batch.payload).events { index.apply(events, from: worker) }
            last = batch.sequence
        }
        for (sequence, events) in buffered where sequence > last {
            index.apply(events, from: worker)
            last = sequence
        }
        lastSequence[worker] = last
        kvBlocksIndexed.record(index.blockCount(of: worker))
        logger.info("KV index rebuilt from a snapshot", metadata: ["worker.id": "\(worker)", "blocks": "\(index.blockCount(of: worker))"])
    }

    private func broadcastView() -> [Reply] {
        let view = self.view
        liveWorkers.record(view.workers.count)
        return frontends.values.map { Reply(peer: $0.peer, message: .clusterView(view)) }
    }
}
