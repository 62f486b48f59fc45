import PatchworkCore
import PatchworkRouting
import Testing

struct UnreportedWorkTests {
    let a = WorkerID("a"), b = WorkerID("b")

    /// A report counts what was routed more than the lag before it; later work stays.
    @Test func aReportShowsWhatWasRoutedALagBeforeIt() {
        var work = UnreportedWork(reportLag: 0.5)
        work.routed(3, to: a, now: 10)
        work.routed(4, to: a, now: 10.8)
        work.routed(5, to: b, now: 10)
        #expect(work.blocks(of: a) == 7 && work.blocks(of: b) == 5)
        work.reportArrived(from: a, now: 11)
        #expect(work.blocks(of: a) == 4)
        #expect(work.blocks(of: b) == 5)
        work.reportArrived(from: a, now: 11.2)
        #expect(work.blocks(of: a) == 4)
        work.reportArrived(from: a, now: 11.4)
        #expect(work.blocks(of: a) == 0)
        work.forget(b)
        #expect(work.blocks(of: b) == 0)
        #expect(work == UnreportedWork(reportLag: 0.5))
    }
}
