import PatchworkCore

/// The prompt blocks routed to each worker that its load reports do not show yet.
///
/// A routed request takes a few milliseconds to reach the engine, so a load report counts the
/// work routed more than `reportLag` seconds before it arrived; later decisions stay here until
/// the next report. The cost function adds ``blocks(of:)`` to the reported work, so a burst of
/// requests spreads out before any report tells of it.
public struct UnreportedWork: Sendable, Equatable {
    /// How long a routed request takes, at most, to show in its worker's load report.
    public let reportLag: Double
    private var routed: [WorkerID: [Entry]] = [:]

    private struct Entry: Sendable, Equatable {
        var time: Double
        var blocks: Int
    }

    public init(reportLag: Double = 0.1) {
        self.reportLag = reportLag
    }

    /// A decision sent `blocks` new blocks of work to `worker`.
    public mutating func routed(_ blocks: Int, to worker: WorkerID, now: Double) {
        routed[worker, default: []].append(Entry(time: now, blocks: blocks))
    }

    /// A load report from `worker` arrived at `now`: it shows what was routed there until
    /// `now - reportLag`.
    public mutating func reportArrived(from worker: WorkerID, now: Double) {
        routed[worker]?.removeAll { $0.time < now - reportLag }
        if routed[worker]?.isEmpty == true { routed[worker] = nil }
    }

    /// Blocks routed to `worker` that no report shows yet.
    public func blocks(of worker: WorkerID) -> Int {
        guard !routed.isEmpty else { return 0 }
        return routed[worker]?.reduce(0) { $0 + $1.blocks } ?? 0
    }

    /// Forgets a worker that left.
    public mutating func forget(_ worker: WorkerID) { routed[worker] = nil }
}
