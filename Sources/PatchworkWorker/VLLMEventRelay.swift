import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import Synchronization

/// Relays a vLLM server's KV events (its ZeroMQ publisher, `--kv-events-config`) to the routers
/// under this worker's id, so the routers index a vLLM worker as they index a native one.
///
/// vLLM numbers its batches; a batch that skips numbers means some were lost (a slow
/// subscriber, a reconnect), and those are asked from vLLM's replay socket when it has one.
/// What cannot be replayed is published as `AllBlocksCleared`: the routers forget this worker's
/// blocks rather than believe blocks it may no longer hold. The batches go out as vLLM encoded
/// them, renumbered in this worker's sequence, and a ``KVBlockMirror`` of them answers routers
/// that need a snapshot. A restarted vLLM (numbers start again, or it stopped answering) has an
/// empty cache: the routers hear `AllBlocksCleared`.
///
/// A worker that starts (or restarts) beside a running vLLM first asks the replay socket for
/// every batch vLLM still keeps, so the routers learn what vLLM cached before this worker was
/// there.
final class VLLMEventRelay: Sendable {
    private let eventsEndpoint: String
    private let replayEndpoint: String?
    private let publisher: KVEventPublisher
    private let logger: Logger

    private struct State {
        var mirror = KVBlockMirror()
        /// vLLM's number of the next batch; nil before the first.
        var expected: Int64?
        /// Caught up from the replay socket and no live batch relayed since: live batches
        /// numbered below `expected` were relayed already, not sent by a restarted vLLM.
        var caughtUp = false
        var socket: MessageSocket?
    }

    private let state = Mutex(State())

    init(events: String, replay: String?, publisher: KVEventPublisher, logger: Logger) {
        eventsEndpoint = events
        replayEndpoint = replay
        self.publisher = publisher
        self.logger = logger
    }

    func start() {
        let socket: MessageSocket
        do { socket = try MessageSocket(.subscriber, connect: [eventsEndpoint]) } catch {
            logger.error("cannot subscribe to vLLM's KV events", metadata: ["endpoint": "\(eventsEndpoint)", "error": "\(error)"])
            return
        }
        state.withLock { $0.socket = socket }
        logger.info("relaying vLLM's KV events", metadata: ["endpoint": "\(eventsEndpoint)", "replay": "\(replayEndpoint ?? "none")"])
        Task {
            // Live batches queue on the subscription meanwhile.
            await self.catchUp()
            for await frames in socket.incoming { await self.received(frames) }
        }
    }

    func stop() {
        state.withLock { $0.socket }?.close()
    }

    /// vLLM answers again after it did not: it may have restarted with an empty cache and its
    /// numbering from 0, so the routers forget its blocks and the next batch is taken as it comes.
    func engineReturned() {
        state.withLock { state in
            forgetBlocks(&state)
            state.expected = nil
            state.caughtUp = false
        }
    }

    /// The routers, and the mirror, forget every block of this worker's.
    private func forgetBlocks(_ state: inout State) {
        state.mirror.apply([.allBlocksCleared])
        publisher.publish([.allBlocksCleared])
    }

    /// The batches a router asks for from our `sequence` on, or a snapshot of the mirror.
    func replay(from sequence: Int64, requestID: RequestID) -> KVEventReplay {
        state.withLock { state in
            if let batches = publisher.batches(from: sequence) { return KVEventReplay(requestID: requestID, snapshot: false, batches: batches) }
            return KVEventReplay(requestID: requestID, snapshot: true, batches: [publisher.snapshot(of: state.mirror.snapshot)])
        }
    }

    /// Relays every batch vLLM's replay buffer still holds, from its first. When the buffer no
    /// longer starts at vLLM's first batch, the blocks stored before it stay unknown (the
    /// routers learn only of blocks stored from now on).
    private func catchUp() async {
        guard replayEndpoint != nil else { return }
        let batches = await fetchReplay(from: 0).sorted { $0.sequence < $1.sequence }
        guard let last = batches.last else { return }
        if batches.map(\.sequence) == Array(0...last.sequence) {
            for batch in batches { relay(batch.payload, sequence: batch.sequence) }
            logger.notice("caught up with vLLM's KV events from its replay buffer", metadata: ["batches": "\(batches.count)"])
        } else {
            logger.warning("vLLM's replay buffer no longer holds its first KV-event batches: blocks vLLM stored before stay unknown to the routers", metadata: [
                "first kept": "\(batches[0].sequence)",
            ])
        }
        state.withLock { state in
            state.expected = last.sequence + 1
            state.caughtUp = true
        }
    }

    private func received(_ frames: [[UInt8]]) async {
        let frame: KVEventFrame
        do { frame = try KVEventFrame(frames: frames) } catch {
            logger.warning("ignoring a message from vLLM's KV-event publisher", metadata: ["error": "\(error)"])
            return
        }
        let (expected, caughtUp) = state.withLock { ($0.expected, $0.caughtUp) }
        // The subscription only ever sees numbers grow (replays come on their own socket): a
        // smaller one is, right after catching up, a batch the replay buffer gave already, and
        // otherwise a restarted vLLM, whose cache starts empty.
        if let expected, frame.sequence < expected, caughtUp { return }
        state.withLock { $0.caughtUp = false }
        if let expected, frame.sequence < expected {
            logger.notice("vLLM's KV events start again from the beginning (vLLM restarted)", metadata: ["sequence": "\(frame.sequence)", "expected": "\(expected)"])
            state.withLock { forgetBlocks(&$0) }
        } else if let expected, frame.sequence > expected {
            await recover(from: expected, before: frame.sequence)
        } else if expected == nil, frame.sequence > 0, replayEndpoint != nil {
            // The first batch seen is not vLLM's first: the ones before were published before
            // this subscription took effect (or vLLM restarted while we looked away).
            await recover(from: 0, before: frame.sequence)
        }
        relay(frame.payload, sequence: frame.sequence)
    }

    private func relay(_ payload: [UInt8], sequence: Int64) {
        let batch: KVEventBatch
        do { batch = try KVEventBatch(decoding: payload) } catch {
            logger.warning("ignoring a KV-event batch from vLLM", metadata: ["sequence": "\(sequence)", "error": "\(error)"])
            state.withLock { $0.expected = sequence + 1 }
            return
        }
        state.withLock { state in
            state.mirror.apply(batch.events)
            publisher.publish(encodedBatch: payload)
            state.expected = sequence + 1
        }
    }

    /// Batches `first..<next` were not received: replays what vLLM still has, and clears the
    /// routers' view when some are gone.
    private func recover(from first: Int64, before next: Int64) async {
        var replayed = replayEndpoint != nil ? await fetchReplay(from: first) : []
        replayed = replayed.filter { $0.sequence >= first && $0.sequence < next }.sorted { $0.sequence < $1.sequence }
        let complete = replayed.map(\.sequence) == Array(first..<next)
        if complete {
            for batch in replayed { relay(batch.payload, sequence: batch.sequence) }
            logger.notice("replayed vLLM KV-event batches", metadata: ["from": "\(first)", "count": "\(replayed.count)"])
            return
        }
        logger.warning("vLLM KV-event batches lost; routers forget this worker's blocks", metadata: [
            "from": "\(first)", "to": "\(next - 1)", "replayed": "\(replayed.count)",
        ])
        state.withLock { state in
            forgetBlocks(&state)
            state.expected = next
        }
    }

    /// vLLM's replay protocol: `["", start sequence]` to its ROUTER socket; it answers
    /// `["", topic, sequence, payload]` per kept batch and `["", "", -1, ""]` at the end.
    private func fetchReplay(from first: Int64) async -> [KVEventReplay.Batch] {
        guard let replayEndpoint else { return [] }
        let socket: MessageSocket
        do { socket = try MessageSocket(.dealer, connect: [replayEndpoint]) } catch {
            logger.warning("cannot reach vLLM's KV-event replay socket", metadata: ["endpoint": "\(replayEndpoint)", "error": "\(error)"])
            return []
        }
        let start = KVEventFrame(topic: [], sequence: first, payload: []).frames[1]
        socket.send([[], start])
        // Bounded: a replay socket that does not answer closes after 3 s.
        let timer = Task {
            try? await Task.sleep(for: .seconds(3))
            socket.close()
        }
        var batches: [KVEventReplay.Batch] = []
        for await frames in socket.incoming {
            guard frames.count == 4, frames[2].count == 8 else { continue }
            let sequence = Int64(bitPattern: frames[2].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            if sequence < 0 { break }
            batches.append(KVEventReplay.Batch(sequence: sequence, payload: frames[3]))
        }
        timer.cancel()
        socket.close()
        return batches
    }
}
