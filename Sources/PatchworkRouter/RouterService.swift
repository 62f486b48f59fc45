import Foundation
import Logging
import Metrics
import PatchworkCore
import PatchworkMessaging
import PatchworkRouting
import ServiceLifecycle
import Synchronization

/// The router's sockets and loops: the control socket (workers and frontends), the KV-event
/// socket, and the clock that expires silent workers.
final class RouterService: Service {
    let state: RouterState
    private let control: MessageSocket
    private let events: MessageSocket
    private let logger: Logger
    private let eventBatches = Counter(label: "patchwork_router_kv_event_batches_total")
    private let eventErrors = Counter(label: "patchwork_router_kv_event_errors_total")
    /// Control messages of other than one frame (RouterState counts the undecodable ones under
    /// the same name).
    private let refusedFrames = Counter(label: "patchwork_router_refused_messages_total")
    /// DEALER sockets to workers' serving endpoints, for snapshots.
    private let snapshotSockets = Mutex<[String: MessageSocket]>([:])
    private let (newSnapshotSockets, newSnapshotSocketsContinuation) = AsyncStream.makeStream(of: (WorkerID, MessageSocket).self)

    init(
        routerID: String, listen: Endpoint, eventsListen: Endpoint, missedHeartbeatsAllowed: Int, cost: RoutingCost,
        policy: RoutingPolicy = .kv, approximateTTL: Double? = nil, logger: Logger
    ) throws {
        control = try MessageSocket(.router, bind: [listen.bindString])
        events = try MessageSocket(.subscriber, bind: [eventsListen.bindString])
        let eventsPort = events.boundEndpoints.first.flatMap { try? Endpoint(parsing: $0).port } ?? eventsListen.port
        state = RouterState(routerID: routerID, missedHeartbeatsAllowed: missedHeartbeatsAllowed, eventsPort: eventsPort, cost: cost, policy: policy, approximateTTL: approximateTTL, logger: logger)
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
                group.addTask {
                    await withDiscardingTaskGroup { sockets in
                        for await (worker, socket) in self.newSnapshotSockets {
                            sockets.addTask { await self.receiveSnapshots(from: socket, worker: worker) }
                        }
                    }
                }
            }
        }
        newSnapshotSocketsContinuation.finish()
        control.close()
        events.close()
        snapshotSockets.withLock { for socket in $0.values { socket.close() } }
        logger.info("router stopped")
    }

    private func receiveControl() async {
        for await frames in control.incoming {
            // ROUTER sockets prefix each message with the sender's routing id.
            guard frames.count == 2 else {
                refusedFrames.increment()
                logger.warning("refusing control message of \(frames.count - 1) frames (one is expected)")
                continue
            }
            let output = await state.receive(frames[1], from: frames[0], now: Date().timeIntervalSince1970)
            send(output.replies)
            for request in output.snapshots { requestSnapshot(request) }
        }
    }

    /// KV events feed the prefix index; the topic names the worker.
    private func receiveEvents() async {
        for await frames in events.incoming {
            do {
                let frame = try KVEventFrame(frames: frames)
                let topic = String(decoding: frame.topic, as: UTF8.self)
                if topic.hasPrefix(KVEventFrame.loadTopicPrefix) {
                    let metrics = try MessagePackDecoder().decode(LoadMetrics.self, from: frame.payload)
                    await state.updateLoad(worker: WorkerID(String(topic.dropFirst(KVEventFrame.loadTopicPrefix.count))), metrics: metrics, now: Date().timeIntervalSince1970)
                    continue
                }
                let batch = try KVEventBatch(decoding: frame.payload)
                eventBatches.increment()
                let worker = WorkerID(String(decoding: frame.topic, as: UTF8.self))
                if let request = await state.ingest(worker: worker, sequence: frame.sequence, events: batch.events) {
                    requestSnapshot(request)
                }
            } catch {
                eventErrors.increment()
                logger.warning("dropping KV event message", metadata: ["error": "\(error)"])
            }
        }
    }

    private func requestSnapshot(_ request: RoutingCore.SnapshotRequest) {
        let socket: MessageSocket? = snapshotSockets.withLock { sockets in
            if let socket = sockets[request.endpoint] { return socket }
            guard let socket = try? MessageSocket(.dealer, connect: [request.endpoint]) else { return nil }
            sockets[request.endpoint] = socket
            newSnapshotSocketsContinuation.yield((request.worker, socket))
            return socket
        }
        guard let socket, let bytes = try? ServingMessage.kvEventsRequest(requestID: RequestID.fresh(prefix: "snapshot-"), fromSequence: -1).encoded() else {
            logger.error("cannot ask for a KV snapshot", metadata: ["worker.id": "\(request.worker)", "endpoint": "\(request.endpoint)"])
            return
        }
        socket.send([bytes])
    }

    private func receiveSnapshots(from socket: MessageSocket, worker: WorkerID) async {
        for await frames in socket.incoming {
            guard let payload = frames.last, case .kvEvents(let replay)? = try? ServingMessage(decoding: payload) else { continue }
            await state.applySnapshot(worker: worker, replay: replay)
        }
    }

    private func expireSilentPeers() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            let control = self.control
            send(await state.expire(now: Date().timeIntervalSince1970, heard: { control.lastReceived(from: $0) }))
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
