import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import Synchronization

/// Publishes the engine's KV events in vLLM's wire format, `[topic, sequence, EventBatch]`, to
/// every router that acknowledged this worker (a PUB socket connected to each router's event
/// port). The topic is the worker id; sequence numbers grow by one per batch, so a router sees
/// gaps, and the last `retained` batches are kept to resend on request.
final class KVEventPublisher: Sendable {
    /// Batches kept for replay (vLLM keeps 10 000 steps).
    static let retained = 10_000

    private struct State {
        var sockets: [String: MessageSocket] = [:]
        var sequence: Int64 = 0
        var recent: [KVEventReplay.Batch] = []
    }

    private let topic: [UInt8]
    private let loadTopic: [UInt8]
    private let state = Mutex(State())
    private let logger: Logger

    init(workerID: WorkerID, logger: Logger) {
        topic = Array(workerID.rawValue.utf8)
        loadTopic = Array((KVEventFrame.loadTopicPrefix + workerID.rawValue).utf8)
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
        publish(encodedBatch: KVEventBatch(timestamp: Date().timeIntervalSince1970, events: events).encoded())
    }

    /// Publishes a batch already encoded in vLLM's format (one relayed from a vLLM server).
    func publish(encodedBatch payload: [UInt8]) {
        state.withLock { state in
            let frame = KVEventFrame(topic: topic, sequence: state.sequence, payload: payload)
            state.recent.append(KVEventReplay.Batch(sequence: state.sequence, payload: payload))
            if state.recent.count > Self.retained { state.recent.removeFirst(state.recent.count - Self.retained) }
            state.sequence += 1
            for socket in state.sockets.values { socket.send(frame.frames) }
        }
    }

    /// Publishes the engine's load on the topic `load/<worker id>` (not part of the KV event
    /// sequence; subscribers that want only vLLM's events filter by topic).
    func publishLoad(_ metrics: LoadMetrics) {
        guard let payload = try? MessagePackEncoder().encode(metrics) else { return }
        state.withLock { state in
            let frame = KVEventFrame(topic: loadTopic, sequence: 0, payload: payload)
            for socket in state.sockets.values { socket.send(frame.frames) }
        }
    }

    /// The kept batches from `sequence` on, or nil when some of them are gone (or `sequence` is
    /// negative): then the subscriber needs a snapshot.
    func batches(from sequence: Int64) -> [KVEventReplay.Batch]? {
        state.withLock { state in
            guard sequence >= 0 else { return nil }
            if sequence >= state.sequence { return [] }
            guard let first = state.recent.first, first.sequence <= sequence else { return nil }
            return Array(state.recent[Int(sequence - first.sequence)...])
        }
    }

    /// A snapshot batch: the cache as `AllBlocksCleared` then its blocks, numbered as the last
    /// batch published (it stands for everything up to there). Call it where no batch is
    /// published meanwhile (the engine thread between steps; the relay's queue).
    func snapshot(of events: [KVEvent]) -> KVEventReplay.Batch {
        let payload = KVEventBatch(timestamp: Date().timeIntervalSince1970, events: [.allBlocksCleared] + events).encoded()
        return state.withLock { KVEventReplay.Batch(sequence: $0.sequence - 1, payload: payload) }
    }

    func close() {
        state.withLock { state in
            for socket in state.sockets.values { socket.close() }
            state.sockets = [:]
        }
    }
}
