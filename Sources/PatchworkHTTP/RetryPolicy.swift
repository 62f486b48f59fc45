import Foundation

/// Retries of one remote request: exponential backoff on connection failures, timeouts and
/// 5xx answers (and 429, the one 4xx that asks to be retried later), never on other 4xx
/// answers, all within one deadline for the whole fetch of a source.
public struct RetryPolicy: Sendable {
    /// Attempts per request, the first included.
    public var maxAttempts = 5
    /// Seconds before the second attempt; doubled for each further one.
    public var initialDelay = 0.25
    public var maxDelay = 8.0
    /// Seconds for everything a source fetch does (listings, every file, every retry).
    public var totalTimeout = 600.0

    public init(maxAttempts: Int = 5, initialDelay: Double = 0.25, maxDelay: Double = 8.0, totalTimeout: Double = 600.0) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.totalTimeout = totalTimeout
    }

    /// Seconds to wait after failed attempt `attempt` (1-based): capped doubling, with ±25 %
    /// jitter so that many workers retrying one store do not retry in step.
    public func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: -0.25...0.25)) -> Double {
        min(maxDelay, initialDelay * pow(2, Double(attempt - 1))) * (1 + jitter)
    }

    public static func isRetriable(status: Int) -> Bool { status >= 500 || status == 429 }

    public static func isRetriable(_ error: TransferError) -> Bool {
        switch error.kind {
        case .transport, .timeout: return true
        case .tooLarge, .aborted, .localFile, .refused: return false
        }
    }

    /// Runs `attempt` until it answers with a status that is not retriable, the attempts run
    /// out (the last answer or error is returned or thrown) or the deadline passes.
    /// `attempt` receives the seconds left before the deadline.
    public func run(
        deadline: ContinuousClock.Instant, onRetry: (Int, String) -> Void = { _, _ in },
        _ attempt: (Double) throws(TransferError) -> HTTPResponse
    ) throws(TransferError) -> HTTPResponse {
        var number = 1
        while true {
            let left = Self.seconds(from: .now, to: deadline)
            guard left > 0 else { throw TransferError(kind: .timeout, message: "gave up after \(totalTimeout) s (total timeout)") }
            let outcome: Result<HTTPResponse, TransferError>
            do throws(TransferError) { outcome = .success(try attempt(left)) } catch { outcome = .failure(error) }
            let retriable: Bool
            let reason: String
            switch outcome {
            case .success(let response):
                retriable = Self.isRetriable(status: response.status)
                reason = "HTTP \(response.status)"
            case .failure(let error):
                retriable = Self.isRetriable(error)
                reason = error.message
            }
            let wait = delay(afterAttempt: number)
            guard retriable, number < maxAttempts, Self.seconds(from: .now, to: deadline) > wait else { return try outcome.get() }
            onRetry(number, reason)
            Thread.sleep(forTimeInterval: wait)
            number += 1
        }
    }

    public static func seconds(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Double {
        let d = (end - start).components
        return Double(d.seconds) + Double(d.attoseconds) * 1e-18
    }
}
