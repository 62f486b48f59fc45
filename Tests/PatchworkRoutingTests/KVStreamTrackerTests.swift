import PatchworkCore
import PatchworkRouting
import Testing

/// Scripts of batches, snapshots and registrations against one worker's stream.
struct KVStreamTrackerTests {
    /// A batch whose one event names it, so that replays can be told apart.
    static func batch(_ sequence: Int64) -> KVStreamTracker.Batch {
        KVStreamTracker.Batch(sequence: sequence, events: [Fixtures.stored([UInt64(100 + sequence)], tokens: [Int(sequence), 0, 0, 0])])
    }

    static func events(_ sequence: Int64) -> [KVEvent] { batch(sequence).events }

    /// A tracker past its registration's snapshot (which held nothing): it expects batch 0.
    static func following() -> KVStreamTracker {
        var stream = KVStreamTracker(canSnapshot: true)
        _ = stream.registered()
        _ = stream.snapshotArrived([])
        return stream
    }

    @Test func consecutiveBatchesAreApplied() {
        var stream = Self.following()
        #expect(stream.received(Self.batch(0)) == [.apply(Self.events(0))])
        #expect(stream.received(Self.batch(1)) == [.apply(Self.events(1))])
        #expect(stream.state == .following(last: 1))
    }

    @Test func registrationAsksForASnapshotAndBuffersUntilItComes() {
        var stream = KVStreamTracker(canSnapshot: true)
        #expect(stream.registered() == [.requestSnapshot])
        #expect(stream.received(Self.batch(4)).isEmpty)
        #expect(stream.received(Self.batch(5)).isEmpty)
        // The snapshot was taken after batch 4: only 5 is newer.
        let snapshot: [(sequence: Int64, events: [KVEvent]?)] = [(sequence: 4, events: Self.events(40))]
        #expect(stream.snapshotArrived(snapshot) == [.rebuild([Self.events(40), Self.events(5)])])
        #expect(stream.received(Self.batch(6)) == [.apply(Self.events(6))])
    }

    /// A skipped sequence number: the batch that shows it is not applied (the snapshot covers
    /// it), the next ones wait, and those the snapshot does not cover are replayed after it.
    @Test func aGapAsksForASnapshotThenReplaysWhatCameAfter() {
        var stream = Self.following()
        #expect(stream.received(Self.batch(0)) == [.apply(Self.events(0))])
        #expect(stream.received(Self.batch(2)) == [.requestSnapshot])
        #expect(stream.received(Self.batch(3)).isEmpty)
        #expect(stream.received(Self.batch(4)).isEmpty)
        #expect(stream.state == .awaitingSnapshot(buffered: [Self.batch(3), Self.batch(4)]))
        // The worker's snapshot was taken after batch 3.
        let snapshot: [(sequence: Int64, events: [KVEvent]?)] = [(sequence: 3, events: Self.events(30))]
        #expect(stream.snapshotArrived(snapshot) == [.rebuild([Self.events(30), Self.events(4)])])
        #expect(stream.received(Self.batch(5)) == [.apply(Self.events(5))])
        // Batch 4 again (a duplicate) is a gap.
        #expect(stream.received(Self.batch(4)) == [.requestSnapshot])
    }

    @Test func anUnknownParentAsksForASnapshot() {
        var stream = Self.following()
        #expect(stream.received(Self.batch(0)) == [.apply(Self.events(0))])
        #expect(stream.parentUnknown() == [.requestSnapshot])
        #expect(stream.received(Self.batch(1)).isEmpty)
        // A second report while waiting asks nothing more.
        #expect(stream.parentUnknown().isEmpty)
        #expect(stream.snapshotArrived([]) == [.rebuild([Self.events(1)])])
        #expect(stream.state == .following(last: 1))
    }

    /// The worker restarts mid-stream: its old batches and the snapshot awaited are void, its
    /// sequence numbers start again, and a new snapshot is asked for.
    @Test func registrationDuringABatchStartsOver() {
        var stream = Self.following()
        for sequence: Int64 in 0...2 { _ = stream.received(Self.batch(sequence)) }
        #expect(stream.received(Self.batch(4)) == [.requestSnapshot])
        #expect(stream.received(Self.batch(5)).isEmpty)
        #expect(stream.registered() == [.requestSnapshot])
        #expect(stream.state == .awaitingSnapshot(buffered: []))
        #expect(stream.received(Self.batch(0)).isEmpty)
        #expect(stream.snapshotArrived([]) == [.rebuild([Self.events(0)])])
        #expect(stream.received(Self.batch(1)) == [.apply(Self.events(1))])
    }

    @Test func aSnapshotNobodyWaitsForIsIgnored() {
        var stream = Self.following()
        #expect(stream.received(Self.batch(0)) == [.apply(Self.events(0))])
        #expect(stream.snapshotArrived([(sequence: 9, events: Self.events(9))]).isEmpty)
        #expect(stream.state == .following(last: 0))
    }

    /// A snapshot batch that could not be read still counts for the sequence: the buffered
    /// batches it covers are not replayed.
    @Test func anUnreadableSnapshotBatchStillCountsForTheSequence() {
        var stream = Self.following()
        _ = stream.received(Self.batch(1))
        #expect(stream.state == .awaitingSnapshot(buffered: []))
        _ = stream.received(Self.batch(2))
        _ = stream.received(Self.batch(3))
        let snapshot: [(sequence: Int64, events: [KVEvent]?)] = [(sequence: 1, events: Self.events(10)), (sequence: 2, events: nil)]
        #expect(stream.snapshotArrived(snapshot) == [.rebuild([Self.events(10), Self.events(3)])])
        #expect(stream.state == .following(last: 3))
    }

    /// Without a serving endpoint there is no snapshot to ask for: a gap drops the batch that
    /// shows it and the stream carries on from there.
    @Test func aWorkerThatCannotSendSnapshotsCarriesOnAfterAGap() {
        var stream = KVStreamTracker(canSnapshot: false)
        #expect(stream.registered().isEmpty)
        #expect(stream.received(Self.batch(3)).isEmpty)
        #expect(stream.received(Self.batch(4)) == [.apply(Self.events(4))])
        #expect(stream.parentUnknown().isEmpty)
        #expect(stream.received(Self.batch(5)) == [.apply(Self.events(5))])
    }

    /// The first batch a fresh stream accepts without a snapshot is number 0.
    @Test(arguments: [(Int64(0), true), (Int64(1), false), (Int64(7), false)])
    func aFreshStreamStartsAtZero(first: Int64, applied: Bool) {
        var stream = KVStreamTracker(canSnapshot: true)
        let actions = stream.received(Self.batch(first))
        #expect(actions == (applied ? [.apply(Self.events(first))] : [.requestSnapshot]))
    }
}
