import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import Synchronization

/// Publishes the engine's KV events in vLLM's wire format, `[topic, sequence, EventBatch]`, to
/// every router that acknowledged this worker (a PUB socket connected to each router's event
/// port). The topic is the worker id; sequence numbers grow by one per batch, so a router sees
/// gaps.
final class KVEventPublisher: Sendable {
    private struct State {
        var sockets: [String: MessageSocket] = [:]
        var sequence: Int64 = 0
    }

    private let topic: [UInt8]
    private let state = Mutex(State())
    private let logger: Logger

    init(workerID: WorkerID, logger: Logger) {
        topic = Array(workerID.rawValue.utf8)
        self.logger = logger
    }

    /// Connects to a router's event endpoint (once per endpoint).
    func attach(_ endpoint: String) {
        state.withLock { state in
            guard state.sockets[endpoint] == nil else { return }
            do {
                state.sockets[endpoint] = try MessageSocket(.publisher, connect: [endpoint])
                logger.info("publishing KV events", metadata: ["endpoint": "\(endpoint)"])
            } catch {
                logger.error("cannot connect the KV event publisher", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
            }
        }
    }

    func publish(_ events: [KVEvent]) {
        let payload = KVEventBatch(timestamp: Date().timeIntervalSince1970, events: events).encoded()
        state.withLock { state in
            let frame = KVEventFrame(topic: topic, sequence: state.sequence, payload: payload)
            state.sequence += 1
            for socket in state.sockets.values { socket.send(frame.frames) }
        }
    }

    func close() {
        state.withLock { state in
            for socket in state.sockets.values { socket.close() }
            state.sockets = [:]
        }
    }
}
