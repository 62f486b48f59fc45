@testable import PatchworkEngine
import Synchronization
import Testing

/// The compute pool runs every task of a job exactly once, and a job ends only when all its
/// tasks have: back-to-back jobs are where a thread still leaving one job could take a task of
/// the next (run twice, or counted before it ran).
struct ComputePoolTests {
    @Test func everyTaskOfBackToBackJobsRunsOnceBeforeTheJobEnds() {
        let pool = ComputePool(threads: 2)
        let tasks = 8
        let runs = Mutex([Int](repeating: 0, count: tasks))
        for job in 0..<20_000 {
            // Jobs of different sizes, as products and attention alternate.
            let count = job % 2 == 0 ? tasks : 3
            pool.parallelFor(count) { task in
                // A little work of uneven length, so the threads leave a job at different times.
                var x = UInt64(task)
                for _ in 0..<(task * 37 % 200) { x = x &* 6364136223846793005 &+ 1 }
                runs.withLock { $0[task] += x == 42 ? 2 : 1 }
            }
            let seen = runs.withLock { counts -> [Int] in
                defer { counts = [Int](repeating: 0, count: tasks) }
                return counts
            }
            let expected = (0..<tasks).map { $0 < count ? 1 : 0 }
            if seen != expected {
                Issue.record("job \(job): task runs \(seen), expected \(expected)")
                return
            }
        }
    }
}
