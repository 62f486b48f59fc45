import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle

/// Keeps the ``ClusterViewStore`` current: pings each router every second with the view version
/// it holds; a router answers with its view when that is stale, and pushes every change.
struct ClusterViewClient: Service {
    static let pingInterval = Duration.seconds(1)

    let frontendID: String
    let routers: [Endpoint]
    let store: ClusterViewStore
    let logger: Logger

    func run() async throws {
        let sockets = try routers.map { try MessageSocket(.dealer, connect: [$0.description]) }
        logger.info("subscribing to routers", metadata: ["routers": "\(routers.map(\.description).joined(separator: ","))"])
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for (index, socket) in sockets.enumerated() {
                    group.addTask { await receive(from: socket, index: index) }
                    group.addTask { await ping(socket, index: index) }
                }
            }
        }
        for socket in sockets { socket.close() }
    }

    private func ping(_ socket: MessageSocket, index: Int) async {
        while !Task.isCancelled {
            let ping = ControlMessage.frontendPing(FrontendPing(frontendID: frontendID, knownVersion: store.knownVersion(router: index)))
            if let bytes = try? ping.encoded() { socket.send([bytes]) }
            try? await Task.sleep(for: Self.pingInterval)
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
                    if !connected {
                        connected = true
                        logger.info("cluster view received", metadata: ["router": "\(router)", "router.id": "\(view.routerID)", "workers": "\(view.workers.count)"])
                    }
                    logger.debug("cluster view", metadata: ["router": "\(router)", "version": "\(view.version)", "workers": "\(view.workers.count)"])
                case .viewUnchanged(let version):
                    if version == store.knownVersion(router: index) { store.touch(router: index, now: Date().timeIntervalSince1970) }
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
