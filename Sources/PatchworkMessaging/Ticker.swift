import Foundation

/// Calls `tick` every `interval` on a thread of its own, until ``stop()``.
///
/// Heartbeats and pings are how peers judge each other alive, so they must not wait for the
/// Swift cooperative pool (two threads on a two-core host, and busy exactly when a process is
/// loaded). `tick` must be quick and must not block: read a snapshot, queue a message.
public final class Ticker: Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`; read and written only while it is locked.
    nonisolated(unsafe) private var stopped = false

    /// Starts the thread. The first tick comes after `interval` when `immediately` is false.
    public init(name: String, interval: Duration, immediately: Bool = false, tick: @escaping @Sendable () -> Void) {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let thread = Thread { [self] in
            var next = Date().addingTimeInterval(immediately ? 0 : seconds)
            while true {
                condition.lock()
                while !stopped && Date() < next { _ = condition.wait(until: next) }
                let done = stopped
                condition.unlock()
                if done { return }
                tick()
                // Fixed-rate from the schedule, but never a burst after a stall.
                next = max(next.addingTimeInterval(seconds), Date())
            }
        }
        thread.name = name
        thread.start()
    }

    /// Stops the thread; a tick under way finishes first. Idempotent.
    public func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}
