import Foundation
import Logging
import Metrics
import PatchworkAdapters
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle

/// The worker's connections to its routers: one DEALER socket each. It registers once its HTTP
/// server is listening, sends a heartbeat every interval (with load and the full adapter list),
/// forwards adapter events at once, registers again when a router does not know it, and says
/// goodbye on graceful shutdown.
actor RouterLinks: Service {
    private let settings: WorkerSettings
    private let card: ModelCard
    private let servingEndpoint: String
    private let adapters: AdapterRegistry
    private let changes: AsyncStream<AdapterEvent>
    private let metrics: @Sendable () -> LoadMetrics
    private let onAcknowledged: @Sendable (Endpoint, Int) -> Void
    private let logger: Logger
    private let (httpURLs, httpURLContinuation) = AsyncStream.makeStream(of: String.self)
    private var httpURL: String?
    private var acknowledged: Set<Int> = []
    private var sequence: UInt64 = 0
    private let heartbeats = Counter(label: "patchwork_worker_heartbeats_total")
    private let adapterLoads = Counter(label: "patchwork_worker_adapter_loads_total")
    private let adapterUnloads = Counter(label: "patchwork_worker_adapter_unloads_total")
    private let loadedAdapters = Gauge(label: "patchwork_worker_adapters_loaded")

    init(
        settings: WorkerSettings, card: ModelCard, servingEndpoint: String, adapters: AdapterRegistry,
        changes: AsyncStream<AdapterEvent>, metrics: @escaping @Sendable () -> LoadMetrics,
        onAcknowledged: @escaping @Sendable (Endpoint, Int) -> Void, logger: Logger
    ) {
        self.metrics = metrics
        self.onAcknowledged = onAcknowledged
        self.settings = settings
        self.card = card
        self.servingEndpoint = servingEndpoint
        self.adapters = adapters
        self.changes = changes
        self.logger = logger
    }

    /// Routers that have acknowledged this worker's registration.
    var connectedRouters: Int { acknowledged.count }

    /// Called once the HTTP server listens: registration needs its URL.
    nonisolated func httpReady(url: String) {
        httpURLContinuation.yield(url)
    }

    nonisolated func run() async throws {
        try await cancelWhenGracefulShutdown {
            var urls = self.httpURLs.makeAsyncIterator()
            guard let url = await urls.next() else { return }
            let sockets = try self.settings.routers.map { try MessageSocket(.dealer, connect: [$0.description]) }
            await self.start(url: url, sockets: sockets)
            await withTaskGroup(of: Void.self) { group in
                for (index, socket) in sockets.enumerated() {
                    group.addTask { await self.receive(from: socket, index: index, sockets: sockets) }
                }
                group.addTask { await self.sendHeartbeats(to: sockets) }
                group.addTask { await self.forwardChanges(to: sockets) }
            }
            await self.sayGoodbye(to: sockets)
        }
    }

    private func start(url: String, sockets: [MessageSocket]) async {
        httpURL = url
        logger.info("joining routers", metadata: ["worker.id": "\(settings.workerID)", "routers": "\(settings.routers.map(\.description).joined(separator: ","))", "worker.http": "\(url)"])
        for socket in sockets { await register(on: socket) }
    }

    private func registration() async -> WorkerRegistration? {
        guard let httpURL else { return nil }
        return WorkerRegistration(
            workerID: settings.workerID, httpURL: httpURL, servingEndpoint: servingEndpoint, model: card,
            adapters: await adapters.loaded().map(\.summary), metrics: metrics(),
            heartbeatInterval: settings.heartbeatInterval
        )
    }

    private func register(on socket: MessageSocket) async {
        guard let registration = await registration() else { return }
        send(.register(registration), on: socket)
    }

    private func receive(from socket: MessageSocket, index: Int, sockets: [MessageSocket]) async {
        let router = settings.routers[index].description
        for await frames in socket.incoming {
            guard let payload = frames.last else { continue }
            let message: ControlMessage
            do {
                message = try ControlMessage(decoding: payload)
            } catch {
                logger.error("refusing message from router", metadata: ["router": "\(router)", "error": "\(error)"])
                send(.refused(Refusal(reason: error.description)), on: socket)
                continue
            }
            switch message {
            case .registered(let ack):
                acknowledged.insert(index)
                onAcknowledged(settings.routers[index], ack.eventsPort)
                logger.info("registered with router", metadata: ["router": "\(router)", "router.id": "\(ack.routerID)", "router.events_port": "\(ack.eventsPort)"])
            case .unknownWorker:
                // The router restarted or declared this worker dead: introduce ourselves again.
                acknowledged.remove(index)
                logger.notice("router does not know this worker; registering again", metadata: ["router": "\(router)"])
                await register(on: socket)
            case .refused(let refusal):
                logger.error("router refused a message", metadata: ["router": "\(router)", "reason": "\(refusal.reason)"])
            default:
                logger.warning("unexpected message from router", metadata: ["router": "\(router)", "type": "\(message.typeName)"])
            }
        }
    }

    private func sendHeartbeats(to sockets: [MessageSocket]) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(settings.heartbeatInterval))
            sequence += 1
            let heartbeat = WorkerHeartbeat(
                workerID: settings.workerID, sequence: sequence, metrics: metrics(),
                adapters: await adapters.loaded().map(\.summary)
            )
            for socket in sockets { send(.heartbeat(heartbeat), on: socket) }
            heartbeats.increment()
        }
    }

    private func forwardChanges(to sockets: [MessageSocket]) async {
        for await event in changes {
            switch event.kind {
            case .loaded: adapterLoads.increment()
            case .unloaded: adapterUnloads.increment()
            }
            loadedAdapters.record(await adapters.loaded().count)
            for socket in sockets { send(.adapterEvent(event), on: socket) }
        }
    }

    private func sayGoodbye(to sockets: [MessageSocket]) {
        for socket in sockets {
            send(.goodbye(settings.workerID), on: socket)
            socket.close()
        }
        logger.info("left routers", metadata: ["worker.id": "\(settings.workerID)"])
    }

    private func send(_ message: ControlMessage, on socket: MessageSocket) {
        do { socket.send([try message.encoded()]) } catch {
            logger.error("cannot encode message", metadata: ["type": "\(message.typeName)", "error": "\(error)"])
        }
    }
}
