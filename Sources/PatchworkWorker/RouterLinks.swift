import Foundation
import Logging
import Metrics
import PatchworkAdapters
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle
import Synchronization

/// The worker's connections to its routers: one DEALER socket each. It registers once its HTTP
/// server is listening, sends a heartbeat every interval (with load and the full adapter list)
/// from a thread of its own, announces adapter changes at once and lets the adapter API wait
/// until the routers applied them, registers again when a router does not know it, and says
/// goodbye on graceful shutdown.
///
/// Heartbeats never wait for the Swift cooperative pool: they read ``AdapterListing`` and the
/// engine's load snapshot (both behind locks) and queue bytes on the sockets, so a worker busy
/// enough to keep the pool's threads occupied is still heard on time.
final class RouterLinks: Service, Sendable {
    /// How long `POST`/`DELETE /v1/loras` waits for the routers to apply an adapter change.
    static let acknowledgementTimeout = Duration.seconds(2)

    private struct Waiter {
        var sequence: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var sockets: [MessageSocket] = []
        var httpURL: String?
        /// Routers (by index) that acknowledged this worker's registration.
        var acknowledged: Set<Int> = []
        /// The last adapter event sent, and per router the last one it applied.
        var eventSequence: UInt64 = 0
        var appliedSequence: [Int: UInt64] = [:]
        /// Per router, the last adapter event announced when the registration was sent (it lists
        /// every adapter loaded up to there).
        var registeredSequence: [Int: UInt64] = [:]
        var waiters: [UUID: Waiter] = [:]
        var heartbeatSequence: UInt64 = 0
        /// The engine could not serve at the last heartbeat: the routers were told goodbye.
        var away = false

        /// Waiters whose event every acknowledged router has applied.
        mutating func satisfiedWaiters() -> [CheckedContinuation<Bool, Never>] {
            let ready = waiters.filter { _, waiter in acknowledged.allSatisfy { (appliedSequence[$0] ?? 0) >= waiter.sequence } }
            for id in ready.keys { waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
    }

    private let settings: WorkerSettings
    private let card: ModelCard
    private let servingEndpoint: String
    private let listing: AdapterListing
    private let metrics: @Sendable () -> LoadMetrics
    private let isHealthy: @Sendable () -> Bool
    private let onAcknowledged: @Sendable (Endpoint, Int) -> Void
    private let logger: Logger
    private let (httpURLs, httpURLContinuation) = AsyncStream.makeStream(of: String.self)
    private let state = Mutex(State())
    private let heartbeats = Counter(label: "patchwork_worker_heartbeats_total")
    private let adapterLoads = Counter(label: "patchwork_worker_adapter_loads_total")
    private let adapterUnloads = Counter(label: "patchwork_worker_adapter_unloads_total")
    private let loadedAdapters = Gauge(label: "patchwork_worker_adapters_loaded")

    init(
        settings: WorkerSettings, card: ModelCard, servingEndpoint: String, listing: AdapterListing,
        metrics: @escaping @Sendable () -> LoadMetrics, isHealthy: @escaping @Sendable () -> Bool = { true },
        onAcknowledged: @escaping @Sendable (Endpoint, Int) -> Void, logger: Logger
    ) {
        self.isHealthy = isHealthy
        self.settings = settings
        self.card = card
        self.servingEndpoint = servingEndpoint
        self.listing = listing
        self.metrics = metrics
        self.onAcknowledged = onAcknowledged
        self.logger = logger
    }

    /// Routers that have acknowledged this worker's registration.
    var connectedRouters: Int { state.withLock { $0.acknowledged.count } }

    /// Called once the HTTP server listens: registration needs its URL.
    func httpReady(url: String) {
        httpURLContinuation.yield(url)
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var urls = self.httpURLs.makeAsyncIterator()
            guard let url = await urls.next() else { return }
            let sockets = try self.settings.routers.map { try MessageSocket(.dealer, connect: [$0.description]) }
            self.state.withLock { state in
                state.sockets = sockets
                state.httpURL = url
            }
            self.logger.info("joining routers", metadata: [
                "worker.id": "\(self.settings.workerID)", "routers": "\(self.settings.routers.map(\.description).joined(separator: ","))", "worker.http": "\(url)",
            ])
            for index in sockets.indices { self.register(on: sockets[index], index: index) }
            let ticker = Ticker(name: "heartbeat", interval: .seconds(self.settings.heartbeatInterval)) { self.sendHeartbeat() }
            await withTaskGroup(of: Void.self) { group in
                for (index, socket) in sockets.enumerated() {
                    group.addTask { await self.receive(from: socket, index: index) }
                }
            }
            ticker.stop()
            self.sayGoodbye(to: sockets)
        }
        // Nobody will answer now; release the adapter API's waits.
        let waiting = state.withLock { state in defer { state.waiters = [:] }; return state.waiters.values.map(\.continuation) }
        for continuation in waiting { continuation.resume(returning: false) }
    }

    /// Tells every router of an adapter change at once (called from the registry's change hook).
    func announce(_ kind: AdapterEvent.Kind, _ summary: AdapterSummary) {
        switch kind {
        case .loaded: adapterLoads.increment()
        case .unloaded: adapterUnloads.increment()
        }
        loadedAdapters.record(listing.count)
        let (sockets, sequence) = state.withLock { state in
            state.eventSequence += 1
            return (state.sockets, state.eventSequence)
        }
        let event = AdapterEvent(workerID: settings.workerID, kind: kind, adapter: summary, sequence: sequence)
        // Before the sockets exist, the registration will carry the adapter list.
        for socket in sockets { send(.adapterEvent(event), on: socket) }
    }

    /// Waits until every router this worker is registered with has applied the adapter changes
    /// announced so far, or `timeout` passes (a router that stopped answering must not hold the
    /// adapter API). Returns whether they all did.
    @discardableResult
    func waitUntilRoutersApplied(timeout: Duration = RouterLinks.acknowledgementTimeout) async -> Bool {
        let id = UUID()
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let ready = self.state.withLock { state in
                        state.waiters[id] = Waiter(sequence: state.eventSequence, continuation: continuation)
                        return state.satisfiedWaiters()
                    }
                    for continuation in ready { continuation.resume(returning: true) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.state.withLock { $0.waiters.removeValue(forKey: id)?.continuation }?.resume(returning: false)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func register(on socket: MessageSocket, index: Int) {
        // The sequence is read before the listing: an event announced in between is sent on its own too.
        guard let (httpURL, sequence) = state.withLock({ state in state.httpURL.map { ($0, state.eventSequence) } }) else { return }
        let registration = WorkerRegistration(
            workerID: settings.workerID, httpURL: httpURL, servingEndpoint: servingEndpoint, model: card,
            adapters: listing.summaries, metrics: metrics(), heartbeatInterval: settings.heartbeatInterval
        )
        state.withLock { $0.registeredSequence[index] = sequence }
        send(.register(registration), on: socket)
    }

    /// Runs on the heartbeat thread. While the engine cannot serve, the routers are told goodbye
    /// once and hear nothing more; the first heartbeat after it recovers makes them ask this
    /// worker to register again.
    private func sendHeartbeat() {
        let healthy = isHealthy()
        let (sockets, sequence, leaving) = state.withLock { state in
            let leaving = !healthy && !state.away
            state.away = !healthy
            state.heartbeatSequence += 1
            return (state.sockets, state.heartbeatSequence, leaving)
        }
        if leaving {
            logger.error("the engine cannot serve; leaving the routers until it can", metadata: ["worker.id": "\(settings.workerID)"])
            for socket in sockets { send(.goodbye(settings.workerID), on: socket) }
        }
        guard healthy else { return }
        let heartbeat = WorkerHeartbeat(workerID: settings.workerID, sequence: sequence, metrics: metrics(), adapters: listing.summaries)
        for socket in sockets { send(.heartbeat(heartbeat), on: socket) }
        heartbeats.increment()
    }

    private func receive(from socket: MessageSocket, index: Int) async {
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
                // The registration listed every adapter announced before it was sent.
                let ready = state.withLock { state in
                    state.acknowledged.insert(index)
                    state.appliedSequence[index] = max(state.appliedSequence[index] ?? 0, state.registeredSequence[index] ?? 0)
                    return state.satisfiedWaiters()
                }
                for continuation in ready { continuation.resume(returning: true) }
                onAcknowledged(settings.routers[index], ack.eventsPort)
                logger.info("registered with router", metadata: ["router": "\(router)", "router.id": "\(ack.routerID)", "router.events_port": "\(ack.eventsPort)"])
            case .adapterEventAck(let ack):
                let ready = state.withLock { state in
                    state.appliedSequence[index] = max(state.appliedSequence[index] ?? 0, ack.sequence)
                    return state.satisfiedWaiters()
                }
                for continuation in ready { continuation.resume(returning: true) }
            case .unknownWorker:
                // The router restarted or declared this worker dead: introduce ourselves again.
                let ready = state.withLock { state in
                    state.acknowledged.remove(index)
                    return state.satisfiedWaiters()
                }
                for continuation in ready { continuation.resume(returning: true) }
                logger.notice("router does not know this worker; registering again", metadata: ["router": "\(router)"])
                register(on: socket, index: index)
            case .refused(let refusal):
                logger.error("router refused a message", metadata: ["router": "\(router)", "reason": "\(refusal.reason)"])
            default:
                logger.warning("unexpected message from router", metadata: ["router": "\(router)", "type": "\(message.typeName)"])
            }
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
