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
    private let eventsPort: Int
    private let logger: Logger
    private let liveWorkers = Gauge(label: "patchwork_router_live_workers")
    private let deadWorkers = Counter(label: "patchwork_router_dead_workers_total")
    private let refusedMessages = Counter(label: "patchwork_router_refused_messages_total")
    private let routeDecisions = Counter(label: "patchwork_router_route_decisions_total")

    init(routerID: String, missedHeartbeatsAllowed: Int, eventsPort: Int, logger: Logger) {
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
            let chosen = membership.choose(model: route.model, adapter: route.adapter, excluding: Set(route.excluding))
            routeDecisions.increment()
            logger.debug("route decision", metadata: [
                "request.id": "\(route.requestID)", "model": "\(route.model)", "adapter.name": "\(route.adapter ?? "")",
                "worker.id": "\(chosen?.registration.workerID.rawValue ?? "none")",
                "worker.load": "\((chosen?.metrics.runningRequests ?? 0) + (chosen?.metrics.waitingRequests ?? 0))",
            ])
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
            deadWorkers.increment()
            logger.warning("worker declared dead", metadata: [
                "worker.id": "\(member.registration.workerID)",
                "silent.seconds": "\(now - member.lastSeen)",
                "adapters": "\(member.adapters.count)",
            ])
        }
        return broadcastView()
    }

    private func broadcastView() -> [Reply] {
        let view = membership.view
        liveWorkers.record(view.workers.count)
        return frontends.values.map { Reply(peer: $0.peer, message: .clusterView(view)) }
    }
}
