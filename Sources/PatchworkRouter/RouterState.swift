import Foundation
import Logging
import Metrics
import PatchworkCore
import PatchworkRouting

/// The router's shared state: a ``RoutingCore`` (membership, KV index, decisions) and the
/// subscribed frontends. Every input goes through here; each method feeds the core and returns
/// the messages to send, so the socket code stays apart from logic. Logs and metrics are
/// written here, after the core has decided.
actor RouterState {
    /// A message for one peer on the control socket.
    struct Reply: Sendable {
        var peer: [UInt8]
        var message: ControlMessage
    }

    /// What a control message asks of the sockets: replies, and snapshots to ask workers for.
    struct Output: Sendable {
        var replies: [Reply] = []
        var snapshots: [RoutingCore.SnapshotRequest] = []
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
    /// How long prompts routed with KV events count as cached while their events are on the way.
    static let inFlightTTL = 5.0

    private var core: RoutingCore
    private var frontends: [String: Frontend] = [:]
    private let eventsPort: Int
    private let logger: Logger
    private let kvBlocksIndexed = Gauge(label: "patchwork_router_indexed_blocks")
    private let snapshotsRequested = Counter(label: "patchwork_router_kv_snapshots_requested_total")
    private let liveWorkers = Gauge(label: "patchwork_router_live_workers")
    private let deadWorkers = Counter(label: "patchwork_router_dead_workers_total")
    private let refusedMessages = Counter(label: "patchwork_router_refused_messages_total")
    private let routeDecisions = Counter(label: "patchwork_router_route_decisions_total")
    /// Decisions that sent a request to a worker that must load its adapter first.
    private let onDemandPlacements = Counter(label: "patchwork_router_on_demand_placements_total")

    /// - Parameter approximateTTL: approximate mode (`--no-kv-events`) when set: the index is
    ///   fed by the router's own decisions, each for this many seconds.
    init(
        routerID: String, missedHeartbeatsAllowed: Int, eventsPort: Int, cost: RoutingCost = RoutingCost(),
        policy: RoutingPolicy = .kv, approximateTTL: Double? = nil, logger: Logger
    ) {
        let membership = ClusterMembership(
            routerID: routerID, missedHeartbeatsAllowed: missedHeartbeatsAllowed,
            initialVersion: UInt64(Date().timeIntervalSince1970 * 1_000_000), maxObservationGap: Self.maxObservationGap
        )
        core = RoutingCore(
            membership: membership, cost: cost, selector: policy.selector(cost: cost, generator: SystemRandomNumberGenerator()),
            routedPrompts: approximateTTL.map { .approximate(ttl: $0) } ?? .inFlight(ttl: Self.inFlightTTL)
        )
        self.eventsPort = eventsPort
        self.logger = logger
    }

    /// The cluster view, with the adapters no live worker holds but the router can place.
    var view: ClusterView { core.view }

    /// Handles one control message from `peer`.
    func receive(_ bytes: [UInt8], from peer: [UInt8], now: Double) -> Output {
        let message: ControlMessage
        do {
            message = try ControlMessage(decoding: bytes)
        } catch {
            refusedMessages.increment()
            logger.warning("refusing control message", metadata: ["error": "\(error)"])
            return Output(replies: [Reply(peer: peer, message: .refused(Refusal(reason: error.description)))])
        }
        let versionBefore = core.membership.version
        var output = Output()
        switch message {
        case .register(let registration):
            let snapshot = core.register(registration, peer: peer, now: now)
            logger.info("worker registered", metadata: [
                "worker.id": "\(registration.workerID)", "worker.http": "\(registration.httpURL)",
                "model": "\(registration.model.servedModelName)", "adapters": "\(registration.adapters.count)",
            ])
            output.replies.append(Reply(peer: peer, message: .registered(RegistrationAck(
                workerID: registration.workerID, routerID: core.membership.routerID, eventsPort: eventsPort
            ))))
            if let snapshot { output.snapshots.append(requested(snapshot)) }
        case .heartbeat(let heartbeat):
            if core.heartbeat(heartbeat, peer: peer, now: now) == .unknownWorker {
                output.replies.append(Reply(peer: peer, message: .unknownWorker(heartbeat.workerID)))
            }
        case .adapterEvent(let event):
            if core.adapterEvent(event, now: now) == .unknownWorker {
                output.replies.append(Reply(peer: peer, message: .unknownWorker(event.workerID)))
            } else {
                if let sequence = event.sequence {
                    output.replies.append(Reply(peer: peer, message: .adapterEventAck(AdapterEventAck(workerID: event.workerID, sequence: sequence))))
                }
                logger.info("adapter \(event.kind.rawValue)", metadata: ["worker.id": "\(event.workerID)", "adapter.name": "\(event.adapter.name)"])
            }
        case .goodbye(let workerID):
            if core.goodbye(workerID) != nil {
                logger.info("worker left", metadata: ["worker.id": "\(workerID)"])
            }
        case .frontendPing(let ping):
            if frontends[ping.frontendID] == nil {
                logger.info("frontend subscribed", metadata: ["frontend.id": "\(ping.frontendID)"])
            }
            frontends[ping.frontendID] = Frontend(peer: peer, lastSeen: now)
            let version = core.membership.version
            output.replies.append(Reply(peer: peer, message: ping.knownVersion == version ? .viewUnchanged(version: version) : .clusterView(view)))
        case .routeRequest(let route):
            let decision = core.route(route, now: now)
            routeDecisions.increment()
            if decision.loadSource != nil { onDemandPlacements.increment() }
            log(decision, for: route)
            output.replies.append(Reply(peer: peer, message: .routeDecision(decision.message(for: route))))
        case .refused(let refusal):
            logger.error("peer refused a message", metadata: ["reason": "\(refusal.reason)"])
        case .registered, .adapterEventAck, .unknownWorker, .clusterView, .viewUnchanged, .routeDecision:
            logger.warning("unexpected message for a router", metadata: ["type": "\(message.typeName)"])
        }
        if core.membership.version != versionBefore { output.replies += broadcastView() }
        return output
    }

    /// A load report published between heartbeats.
    func updateLoad(worker: WorkerID, metrics: LoadMetrics, now: Double) {
        core.loadReport(from: worker, metrics: metrics, now: now)
    }

    /// Declares silent workers dead and forgets silent frontends.
    /// - Parameter heard: when the control socket last received anything from a peer.
    func expire(now: Double, heard: @Sendable ([UInt8]) -> Double? = { _ in nil }) -> [Reply] {
        for (id, frontend) in frontends where now - frontend.lastSeen > Self.frontendTimeout {
            frontends[id] = nil
            logger.info("frontend gone", metadata: ["frontend.id": "\(id)"])
        }
        let dead = core.expire(now: now, heard: heard)
        guard !dead.isEmpty else { return [] }
        for member in dead {
            deadWorkers.increment()
            logger.warning("worker declared dead", metadata: [
                "worker.id": "\(member.registration.workerID)",
                "silent.seconds": "\(now - member.lastSeenWall)",
                "adapters": "\(member.adapters.count)",
            ])
        }
        return broadcastView()
    }

    /// What the adapter controller must do to make the live workers match the declarations.
    func reconcile(
        _ declarations: [AdapterDeclaration], loading: Set<DeclarationPlan.PendingLoad>, failures: [String: String]
    ) -> DeclarationPlan {
        core.reconcile(declarations, loading: loading, failures: failures)
    }

    /// Applies one published batch of a worker's KV events. Returns a snapshot request when the
    /// batch shows a gap.
    func ingest(worker: WorkerID, sequence: Int64, events: [KVEvent]) -> RoutingCore.SnapshotRequest? {
        let snapshot = core.receivedKVBatch(from: worker, sequence: sequence, events: events)
        kvBlocksIndexed.record(core.indexedBlocks(of: worker))
        return snapshot.map(requested)
    }

    /// Replaces a worker's blocks with a snapshot, then applies the batches that came after it.
    func applySnapshot(worker: WorkerID, replay: KVEventReplay) {
        guard core.snapshotArrived(from: worker, replay: replay) else { return }
        let blocks = core.indexedBlocks(of: worker)
        kvBlocksIndexed.record(blocks)
        logger.info("KV index rebuilt from a snapshot", metadata: ["worker.id": "\(worker)", "blocks": "\(blocks)"])
    }

    /// Counts and logs a snapshot request on its way out.
    private func requested(_ request: RoutingCore.SnapshotRequest) -> RoutingCore.SnapshotRequest {
        snapshotsRequested.increment()
        if case .gap(let sequence, let expected) = request.reason {
            logger.notice("KV event gap; asking for a snapshot", metadata: ["worker.id": "\(request.worker)", "sequence": "\(sequence)", "expected": "\(expected)"])
        }
        return request
    }

    /// Every candidate's score, at debug level.
    private func log(_ decision: RoutingDecision, for route: RouteRequest) {
        let cost = core.cost
        logger.debug("route decision", metadata: [
            "request.id": "\(route.requestID)", "model": "\(route.model)", "adapter.name": "\(route.adapter?.rawValue ?? "")",
            "worker.id": "\(decision.worker?.registration.workerID.rawValue ?? "none")", "prompt.blocks": "\(decision.promptBlocks)",
            "load.source": "\(decision.loadSource ?? "")",
            "scores": "\(decision.candidates.map { "\($0.worker)=\(cost.cost($0, promptBlocks: decision.promptBlocks)) (overlap \($0.overlap), busy \($0.busyBlocks))" }.joined(separator: "; "))",
        ])
    }

    private func broadcastView() -> [Reply] {
        let view = self.view
        liveWorkers.record(view.workers.count)
        return frontends.values.map { Reply(peer: $0.peer, message: .clusterView(view)) }
    }
}
