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

    private var membership: ClusterMembership
    private var frontends: [String: Frontend] = [:]
    private var index = PrefixIndex(blockSize: 16)
    private let cost: RoutingCost
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

    init(routerID: String, missedHeartbeatsAllowed: Int, eventsPort: Int, cost: RoutingCost = RoutingCost(), logger: Logger) {
        self.cost = cost
        membership = ClusterMembership(
            routerID: routerID, missedHeartbeatsAllowed: missedHeartbeatsAllowed,
            initialVersion: UInt64(Date().timeIntervalSince1970 * 1_000_000)
        )
        self.eventsPort = eventsPort
        self.logger = logger
    }

    var view: ClusterView { membership.view }

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
        case .heartbeat(let heartbeat):
            if membership.heartbeat(heartbeat, peer: peer, now: now) == .unknownWorker {
                replies.append(Reply(peer: peer, message: .unknownWorker(heartbeat.workerID)))
            }
        case .adapterEvent(let event):
            if membership.adapterEvent(event, now: now) == .unknownWorker {
                replies.append(Reply(peer: peer, message: .unknownWorker(event.workerID)))
            } else {
                logger.info("adapter \(event.kind.rawValue)", metadata: ["worker.id": "\(event.workerID)", "adapter.name": "\(event.adapter.name)"])
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
            replies.append(Reply(peer: peer, message: current ? .viewUnchanged(version: membership.version) : .clusterView(membership.view)))
        case .routeRequest(let route):
            let chosen = decide(route)
            routeDecisions.increment()
            replies.append(Reply(peer: peer, message: .routeDecision(RouteDecision(
                requestID: route.requestID, workerID: chosen?.registration.workerID, servingEndpoint: chosen?.registration.servingEndpoint,
                reason: chosen == nil ? "no live worker serves \(route.adapter ?? route.model)" : nil
            ))))
        case .refused(let refusal):
            logger.error("peer refused a message", metadata: ["reason": "\(refusal.reason)"])
        case .registered, .unknownWorker, .clusterView, .viewUnchanged, .routeDecision:
            logger.warning("unexpected message for a router", metadata: ["type": "\(message.typeName)"])
        }
        if membership.version != versionBefore { replies += broadcastView() }
        return replies
    }

    /// Declares silent workers dead and forgets silent frontends.
    func expire(now: Double) -> [Reply] {
        for (id, frontend) in frontends where now - frontend.lastSeen > Self.frontendTimeout {
            frontends[id] = nil
            logger.info("frontend gone", metadata: ["frontend.id": "\(id)"])
        }
        let dead = membership.expire(now: now)
        guard !dead.isEmpty else { return [] }
        for member in dead {
            forget(member.registration.workerID)
            deadWorkers.increment()
            logger.warning("worker declared dead", metadata: [
                "worker.id": "\(member.registration.workerID)",
                "silent.seconds": "\(now - member.lastSeen)",
                "adapters": "\(member.adapters.count)",
            ])
        }
        return broadcastView()
    }

    /// The worker for a request: the cheapest by ``RoutingCost`` among live workers of the model
    /// that hold the adapter (when one is asked for); every candidate's score is logged at debug.
    private func decide(_ route: RouteRequest) -> ClusterMembership.Member? {
        let excluded = Set(route.excluding)
        let candidates = membership.members.values.filter { m in
            m.registration.model.servedModelName == route.model && !excluded.contains(m.registration.workerID)
                && (route.adapter == nil || m.adapters.contains { $0.name.rawValue == route.adapter })
        }
        let blockSize = candidates.first?.registration.model.kvBlockSize ?? 16
        let overlap = index.overlap(tokens: route.promptIDs, adapter: route.adapter)
        let scored = candidates.map { m in
            RoutingCost.Candidate(
                worker: m.registration.workerID, overlap: overlap[m.registration.workerID] ?? 0, busyBlocks: m.metrics.kvBlocksUsed,
                tier: route.adapter.flatMap { name in m.metrics.adapters.first { $0.name == name }?.tier }
            )
        }
        let promptBlocks = route.promptIDs.count / max(blockSize, 1)
        let choice = cost.choose(scored, promptBlocks: promptBlocks)
        logger.debug("route decision", metadata: [
            "request.id": "\(route.requestID)", "model": "\(route.model)", "adapter.name": "\(route.adapter ?? "")",
            "worker.id": "\(choice?.worker.rawValue ?? "none")", "prompt.blocks": "\(promptBlocks)",
            "scores": "\(scored.map { "\($0.worker)=\(cost.cost($0, promptBlocks: promptBlocks)) (overlap \($0.overlap), busy \($0.busyBlocks))" }.joined(separator: "; "))",
        ])
        return choice.flatMap { membership.members[$0.worker] }
    }

    private func forget(_ worker: WorkerID) {
        index.removeWorker(worker)
        lastSequence[worker] = nil
        awaitingSnapshot[worker] = nil
    }

    /// Applies one published batch of a worker's KV events. Returns a snapshot request when the
    /// batch shows a gap (a skipped sequence number, or a block whose parent is unknown).
    func ingest(worker: WorkerID, sequence: Int64, events: [KVEvent]) -> SnapshotRequest? {
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
        let view = membership.view
        liveWorkers.record(view.workers.count)
        return frontends.values.map { Reply(peer: $0.peer, message: .clusterView(view)) }
    }
}
