import Foundation

/// Per-key limits (``APIKeyBook/Limits``), on a clock the caller passes: requests per second
/// and tokens per minute as token buckets, concurrent requests as a count.
///
/// A request is charged at admission, as OpenAI counts it: one request, and its prompt tokens
/// plus `max_tokens`. A full bucket holds one second of requests (at least one) and one minute
/// of tokens; nothing is charged when any limit refuses.
struct RateLimiter: Sendable {
    /// A refused request: when to try again, and why.
    struct Refusal: Sendable, Equatable {
        var retryAfter: Double
        var message: String
    }

    /// OpenAI's `x-ratelimit-*` headers for a key, as names and values.
    typealias Headers = [(name: String, value: String)]

    private struct Bucket: Sendable {
        var level: Double
        var updated: Double
        var capacity: Double
        /// Per second.
        var rate: Double

        init(capacity: Double, rate: Double, now: Double) {
            (level, updated, self.capacity, self.rate) = (capacity, now, capacity, rate)
        }

        mutating func refill(now: Double) {
            level = min(capacity, level + max(0, now - updated) * rate)
            updated = now
        }

        /// Seconds until the bucket holds `amount`.
        func wait(for amount: Double) -> Double { max(0, (amount - level) / rate) }

        /// Seconds until it is full again.
        var reset: Double { max(0, (capacity - level) / rate) }
    }

    private var requests: [String: Bucket] = [:]
    private var tokens: [String: Bucket] = [:]
    private var running: [String: Int] = [:]

    /// Admits a request of `cost` tokens for `grant`, or says why not. The headers describe
    /// the key's limits after the decision.
    mutating func admit(_ grant: APIKeyBook.Grant, tokens cost: Int, now: Double) -> (refusal: Refusal?, headers: Headers) {
        let key = grant.keyDigest, limits = grant.limits
        var requestBucket = limits.requestsPerSecond.map { rate in Self.bucket(requests[key], capacity: max(1, rate), rate: rate, now: now) }
        var tokenBucket = limits.tokensPerMinute.map { perMinute in Self.bucket(tokens[key], capacity: perMinute, rate: perMinute / 60, now: now) }
        var refusal: Refusal?
        if let bucket = requestBucket, bucket.level < 1 {
            refusal = Refusal(retryAfter: bucket.wait(for: 1), message: "Rate limit reached for requests: \(Self.number(limits.requestsPerSecond!)) per second")
        } else if let limit = limits.maxConcurrent, running[key, default: 0] >= limit {
            refusal = Refusal(retryAfter: 1, message: "Rate limit reached for concurrent requests: \(limit) at a time")
        } else if let bucket = tokenBucket, bucket.level < Double(cost) {
            let limit = limits.tokensPerMinute!
            refusal = Double(cost) > bucket.capacity
                ? Refusal(retryAfter: 60, message: "Request too large: \(cost) tokens (prompt and max_tokens) of a limit of \(Self.number(limit)) per minute")
                : Refusal(retryAfter: bucket.wait(for: Double(cost)), message: "Rate limit reached for tokens: \(Self.number(limit)) per minute, \(cost) requested")
        }
        if refusal == nil {
            requestBucket?.level -= 1
            tokenBucket?.level -= Double(cost)
            if limits.maxConcurrent != nil { running[key, default: 0] += 1 }
        }
        requests[key] = requestBucket
        tokens[key] = tokenBucket
        var headers: Headers = []
        if let bucket = requestBucket {
            headers += [
                ("x-ratelimit-limit-requests", Self.number(bucket.capacity)), ("x-ratelimit-remaining-requests", "\(Int(max(0, bucket.level)))"),
                ("x-ratelimit-reset-requests", Self.duration(bucket.reset)),
            ]
        }
        if let bucket = tokenBucket {
            headers += [
                ("x-ratelimit-limit-tokens", Self.number(bucket.capacity)), ("x-ratelimit-remaining-tokens", "\(Int(max(0, bucket.level)))"),
                ("x-ratelimit-reset-tokens", Self.duration(bucket.reset)),
            ]
        }
        return (refusal, headers)
    }

    /// An admitted request of `grant`'s ended.
    mutating func finished(_ grant: APIKeyBook.Grant) {
        guard let count = running[grant.keyDigest] else { return }
        running[grant.keyDigest] = count > 1 ? count - 1 : nil
    }

    /// `existing`, refilled, or a full one when there is none or the limit changed (a reload).
    private static func bucket(_ existing: Bucket?, capacity: Double, rate: Double, now: Double) -> Bucket {
        guard var bucket = existing, bucket.capacity == capacity, bucket.rate == rate else { return Bucket(capacity: capacity, rate: rate, now: now) }
        bucket.refill(now: now)
        return bucket
    }

    private static func number(_ value: Double) -> String { value == value.rounded() ? "\(Int(value))" : "\(value)" }

    /// OpenAI's form: `1s`, `6m0s`, `20ms`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded(.up)))ms" }
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole)s" : "\(whole / 60)m\(whole % 60)s"
    }
}
