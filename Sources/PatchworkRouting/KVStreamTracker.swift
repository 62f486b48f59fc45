import PatchworkCore

/// One worker's stream of KV-event batches, as a state machine: which batches the prefix index
/// may apply, and when it must learn the worker's cache again from a snapshot.
///
/// Batches carry consecutive sequence numbers from 0 (the worker's first). A batch is applied
/// when it is the next one; a skipped number, or a batch whose blocks link to a parent the index
/// does not know (``parentUnknown()``), means events were lost: the tracker asks for a snapshot
/// and buffers the batches that arrive meanwhile, then replays those newer than the snapshot
/// after it (``snapshotArrived(_:)``). A (re)registration starts over with a snapshot, since the
/// worker's events may predate this router. A worker without a serving endpoint cannot send
/// snapshots: its stream carries on after a gap, with the batch that showed it dropped.
public struct KVStreamTracker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Applying batches; `last` is the sequence number of the last one (nil: none yet).
        case following(last: Int64?)
        /// A snapshot is on its way; the batches that arrived since wait for it.
        case awaitingSnapshot(buffered: [Batch])
    }

    /// One published batch.
    public struct Batch: Sendable, Equatable {
        public var sequence: Int64
        public var events: [KVEvent]

        public init(sequence: Int64, events: [KVEvent]) {
            self.sequence = sequence
            self.events = events
        }
    }

    public enum Action: Sendable, Equatable {
        /// Apply these events to the index (then report ``parentUnknown()`` if it finds a gap).
        case apply([KVEvent])
        /// Ask the worker for a snapshot of its cache.
        case requestSnapshot
        /// Forget the worker's blocks, then apply these event lists in order.
        case rebuild([[KVEvent]])
    }

    public private(set) var state: State
    /// Whether the worker can send snapshots (it has a serving endpoint).
    public let canSnapshot: Bool

    /// A stream that starts with the worker's registration.
    public init(canSnapshot: Bool) {
        self.canSnapshot = canSnapshot
        state = .following(last: nil)
    }

    /// The worker registered: whatever came before is void; learn its cache from a snapshot.
    public mutating func registered() -> [Action] {
        state = .following(last: nil)
        return askForSnapshot()
    }

    /// A batch arrived.
    public mutating func received(_ batch: Batch) -> [Action] {
        switch state {
        case .awaitingSnapshot(var buffered):
            buffered.append(batch)
            state = .awaitingSnapshot(buffered: buffered)
            return []
        case .following(let last):
            let consistent = last.map { batch.sequence == $0 + 1 } ?? (batch.sequence == 0)
            if consistent {
                state = .following(last: batch.sequence)
                return [.apply(batch.events)]
            }
            state = .following(last: batch.sequence)
            return askForSnapshot()
        }
    }

    /// The last batch applied links a block to a parent the index does not know.
    public mutating func parentUnknown() -> [Action] {
        guard case .following = state else { return [] }
        return askForSnapshot()
    }

    /// A snapshot arrived: its batches replace what the index holds for the worker, and the
    /// buffered batches newer than it follow. A snapshot nobody waits for is ignored.
    /// - Parameter snapshot: the snapshot's batches; nil events for one that could not be read
    ///   (it still counts for the sequence).
    public mutating func snapshotArrived(_ snapshot: [(sequence: Int64, events: [KVEvent]?)]) -> [Action] {
        guard case .awaitingSnapshot(let buffered) = state else { return [] }
        var last: Int64 = -1
        var lists: [[KVEvent]] = []
        for batch in snapshot {
            if let events = batch.events { lists.append(events) }
            last = batch.sequence
        }
        for batch in buffered where batch.sequence > last {
            lists.append(batch.events)
            last = batch.sequence
        }
        state = .following(last: last)
        return [.rebuild(lists)]
    }

    private mutating func askForSnapshot() -> [Action] {
        guard canSnapshot else { return [] }
        state = .awaitingSnapshot(buffered: [])
        return [.requestSnapshot]
    }
}
