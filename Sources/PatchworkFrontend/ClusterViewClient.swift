import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle
import Synchronization

/// Keeps the ``ClusterViewStore`` current: pings each router every second with the view version
/// it holds; a router answers with its view when that is stale, and pushes every change. It
/// also asks routers which worker should serve a request (``route(_:)``), and for their view
/// at once when a request names a model this frontend does not know yet (``refresh(timeout:)``).
///
/// Pings go out from a thread of their own, and a router counts as heard when its socket's
/// thread received anything from it: a frontend whose cooperative pool is busy with requests
/// does not lose its routers, and with them every worker.
final class ClusterViewClient: Service, Sendable {
    static let pingInterval = Duration.seconds(1)
    /// How long a routing question may wait for its answer before the frontend decides alone.
    static let routeTimeout = Duration.seconds(1)

    let frontendID: String
    let routers: [Endpoint]
    let store: ClusterViewStore
    let logger: Logger
    private let sockets = Mutex<[MessageSocket]>([])
    private let pendingRoutes = Mutex<[RequestID: CheckedContinuation<RouteDecision?, Never>]>([:])
    /// Callers of ``refresh(timeout:)`` waiting for the next view.
    private let pendingRefreshes = Mutex<[UUID: CheckedContinuation<Void, Never>]>([:])

    init(frontendID: String, routers: [Endpoint], store: ClusterViewStore, logger: Logger) {
        self.frontendID = frontendID
        self.routers = routers
        self.store = store
        self.logger = logger
    }

    /// Asks a reachable router which worker should serve `request`; nil when none answers in time.
    func route(_ request: RouteRequest) async -> RouteDecision? {
        let now = Date().timeIntervalSince1970
        let socket = sockets.withLock { sockets in
            sockets.indices.first { store.isReachable(router: $0, now: now) }.map { sockets[$0] }
        }
        guard let socket, let bytes = try? ControlMessage.routeRequest(request).encoded() else { return nil }
        let requestID = request.requestID
        return await withTaskGroup(of: RouteDecision?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    self.pendingRoutes.withLock { $0[requestID] = continuation }
                    socket.send([bytes])
                }
            }
            group.addTask {
                try? await Task.sleep(for: Self.routeTimeout)
                self.pendingRoutes.withLock { $0.removeValue(forKey: requestID) }?.resume(returning: nil)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Asks every reachable router for its whole view and waits until one arrives, or `timeout`.
    /// For a model missing from this frontend's view: it may have been loaded a moment ago.
    func refresh(timeout: Duration = ClusterViewClient.routeTimeout) async {
        let now = Date().timeIntervalSince1970
        let targets = sockets.withLock { sockets in sockets.indices.filter { store.isReachable(router: $0, now: now) }.map { sockets[$0] } }
        guard !targets.isEmpty, let ping = try? ControlMessage.frontendPing(FrontendPing(frontendID: frontendID, knownVersion: 0)).encoded() else { return }
        let id = UUID()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    self.pendingRefreshes.withLock { $0[id] = continuation }
                    for socket in targets { socket.send([ping]) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.pendingRefreshes.withLock { $0.removeValue(forKey: id) }?.resume()
            }
            await group.next()
            group.cancelAll()
        }
    }

    func run() async throws {
        let sockets = try routers.map { try MessageSocket(.dealer, connect: [$0.description]) }
        self.sockets.withLock { $0 = sockets }
        logger.info("subscribing to routers", metadata: ["routers": "\(routers.map(\.description).joined(separator: ","))"])
        let ticker = Ticker(name: "router-ping", interval: Self.pingInterval, immediately: true) { self.ping(sockets) }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for (index, socket) in sockets.enumerated() {
                    group.addTask { await self.receive(from: socket, index: index) }
                }
            }
        }
        ticker.stop()
        for socket in sockets { socket.close() }
        for continuation in pendingRoutes.withLock({ pending in defer { pending = [:] }; return Array(pending.values) }) {
            continuation.resume(returning: nil)
        }
        for continuation in pendingRefreshes.withLock({ pending in defer { pending = [:] }; return Array(pending.values) }) {
            continuation.resume()
        }
    }

    /// Runs on the ping thread: what each socket heard counts as the router being reachable.
    private func ping(_ sockets: [MessageSocket]) {
        for (index, socket) in sockets.enumerated() {
            if let heard = socket.lastReceived { store.heard(router: index, at: heard) }
            let ping = ControlMessage.frontendPing(FrontendPing(frontendID: frontendID, knownVersion: store.knownVersion(router: index)))
            if let bytes = try? ping.encoded() { socket.send([bytes]) }
        }
    }

    private func receive(from socket: MessageSocket, index: Int) async {
        let router = routers[index].description
        var connected = false
        for await frames in socket.incoming {
            guard let payload = frames.last else { continue }
            do {
                switch try ControlMessage(decoding: payload) {
                case .clusterView(let view):
                    store.update(router: index, view: view, now: Date().timeIntervalSince1970)
                    for continuation in pendingRefreshes.withLock({ pending in defer { pending = [:] }; return Array(pending.values) }) {
                        continuation.resume()
                    }
                    if !connected {
                        connected = true
                        logger.info("cluster view received", metadata: ["router": "\(router)", "router.id": "\(view.routerID)", "workers": "\(view.workers.count)"])
                    }
                    logger.debug("cluster view", metadata: ["router": "\(router)", "version": "\(view.version)", "workers": "\(view.workers.count)"])
                case .viewUnchanged(let version):
                    if version == store.knownVersion(router: index) { store.touch(router: index, now: Date().timeIntervalSince1970) }
                case .routeDecision(let decision):
                    pendingRoutes.withLock { $0.removeValue(forKey: decision.requestID) }?.resume(returning: decision)
                case .refused(let refusal):
                    logger.error("router refused this frontend", metadata: ["router": "\(router)", "reason": "\(refusal.reason)"])
                case let other:
                    logger.warning("unexpected message from router", metadata: ["router": "\(router)", "type": "\(other.typeName)"])
                }
            } catch {
                logger.error("refusing message from router", metadata: ["router": "\(router)", "error": "\(error)"])
            }
        }
    }
}
