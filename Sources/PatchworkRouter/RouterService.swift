import Foundation
import Logging
import Metrics
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle

/// The router's sockets and loops: the control socket (workers and frontends), the KV-event
/// socket, and the clock that expires silent workers.
final class RouterService: Service {
    let state: RouterState
    private let control: MessageSocket
    private let events: MessageSocket
    private let logger: Logger
    private let eventBatches = Counter(label: "patchwork_router_kv_event_batches_total")
    private let eventErrors = Counter(label: "patchwork_router_kv_event_errors_total")

    init(routerID: String, listen: Endpoint, eventsListen: Endpoint, missedHeartbeatsAllowed: Int, logger: Logger) throws {
        control = try MessageSocket(.router, bind: [listen.bindString])
        events = try MessageSocket(.subscriber, bind: [eventsListen.bindString])
        let eventsPort = events.boundEndpoints.first.flatMap { try? Endpoint(parsing: $0).port } ?? eventsListen.port
        state = RouterState(routerID: routerID, missedHeartbeatsAllowed: missedHeartbeatsAllowed, eventsPort: eventsPort, logger: logger)
        self.logger = logger
        logger.info("router listening", metadata: [
            "router.id": "\(routerID)", "control": "\(control.boundEndpoints.joined(separator: ","))",
            "events": "\(events.boundEndpoints.joined(separator: ","))",
        ])
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.receiveControl() }
                group.addTask { await self.receiveEvents() }
                group.addTask { await self.expireSilentPeers() }
            }
        }
        control.close()
        events.close()
        logger.info("router stopped")
    }

    private func receiveControl() async {
        for await frames in control.incoming {
            // ROUTER sockets prefix each message with the sender's routing id.
            guard frames.count == 2 else {
                logger.warning("dropping control message with \(frames.count) frames")
                continue
            }
            send(await state.receive(frames[1], from: frames[0], now: Date().timeIntervalSince1970))
        }
    }

    /// KV events feed the prefix index from [5/6] on; until then they are checked and counted.
    private func receiveEvents() async {
        for await frames in events.incoming {
            do {
                let frame = try KVEventFrame(frames: frames)
                _ = try KVEventBatch(decoding: frame.payload)
                eventBatches.increment()
            } catch {
                eventErrors.increment()
                logger.warning("dropping KV event message", metadata: ["error": "\(error)"])
            }
        }
    }

    private func expireSilentPeers() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            send(await state.expire(now: Date().timeIntervalSince1970))
        }
    }

    private func send(_ replies: [RouterState.Reply]) {
        for reply in replies {
            do {
                control.send([reply.peer, try reply.message.encoded()])
            } catch {
                logger.error("cannot encode reply", metadata: ["type": "\(reply.message.typeName)", "error": "\(error)"])
            }
        }
    }
}
