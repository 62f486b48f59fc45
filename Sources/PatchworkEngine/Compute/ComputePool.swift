import CPatchworkKernels
import Synchronization

/// The process's compute threads (`--threads`): started once, each product split by output
/// rows across them, the calling thread working too. Idle threads spin for
/// ``spinMicroseconds`` (the next product usually follows within microseconds), then sleep on
/// a futex, so the pool gives its cores back on a busy machine. No thread is created per call
/// and nothing on the hot path goes through GCD.
///
/// `@unchecked Sendable`: the C pool serializes its callers with a mutex, and its threads only
/// run tasks handed to them by a caller that waits for all of them.
public final class ComputePool: @unchecked Sendable {
    /// How long idle threads spin before they sleep.
    public static let spinMicroseconds = 100

    let raw: OpaquePointer
    public let threads: Int

    public init(threads: Int) {
        raw = pw_pool_create(Int32(max(threads, 1)), Int32(Self.spinMicroseconds))
        self.threads = Int(pw_pool_threads(raw))
    }

    deinit { pw_pool_destroy(raw) }

    private static let current = Mutex<ComputePool?>(nil)

    /// The pool transformers use when none is given: the one ``Engine/setThreads(_:)`` made,
    /// else one thread per CPU the process may run on.
    public static var shared: ComputePool {
        get { current.withLock { pool in
            if let pool { return pool }
            let made = ComputePool(threads: Int(pw_available_cpus()))
            pool = made
            return made
        } }
        set { current.withLock { $0 = newValue } }
    }

    /// Runs `body(task)` for every task in `0..<count` across the pool; returns when all are done.
    func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 1, threads > 1 else {
            for task in 0..<count { body(task) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafeMutablePointer(to: &closure) { pointer in
                pw_pool_run(raw, Int32(count), { context, task, _ in
                    context!.assumingMemoryBound(to: (@Sendable (Int) -> Void).self).pointee(Int(task))
                }, pointer)
            }
        }
    }
}
