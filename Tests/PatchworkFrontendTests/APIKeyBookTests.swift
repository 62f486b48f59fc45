import Foundation
@testable import PatchworkFrontend
import Testing

/// API-key files as operators write them: keys in clear or as SHA-256, tenants, model patterns.
struct APIKeyBookTests {
    /// `sha256` is Python's `hashlib.sha256(b"sk-beta-key").hexdigest()`.
    static let file = """
    {"keys": [
      {"key": "sk-acme-key", "tenant": "acme", "models": ["SmolLM2-135M-Instruct", "acme/*"], "requests_per_second": 5, "max_concurrent": 4, "tokens_per_minute": 20000},
      {"sha256": "03f8f2a3baa17d560fa17a8df9bfd130abe90a24f582d7b77c1d44608a9840b2", "tenant": "beta", "models": ["*"]}
    ]}
    """

    @Test func keysInClearAndAsDigestsAuthenticateTheirTenants() throws {
        let book = try APIKeyBook(json: Data(Self.file.utf8))
        #expect(book.count == 2 && book.tenants == ["acme", "beta"])
        let acme = try #require(book.grant(authorization: "Bearer sk-acme-key"))
        #expect(acme.tenant == "acme" && acme.limits == .init(requestsPerSecond: 5, maxConcurrent: 4, tokensPerMinute: 20000))
        #expect(book.grant(authorization: "bearer sk-beta-key")?.tenant == "beta")
        #expect(book.grant(authorization: "Bearer sk-beta-key")?.limits == .init())
        // The digest names the key in limits and logs, never the key itself.
        #expect(acme.keyDigest.count == 64 && !acme.keyDigest.contains("acme"))
    }

    @Test func unknownMissingAndMalformedCredentialsGetNoGrant() throws {
        let book = try APIKeyBook(json: Data(Self.file.utf8))
        for header in [nil, "", "Bearer ", "Bearer sk-acme-ke", "Bearer sk-acme-key2", "Basic sk-acme-key", "sk-acme-key"] {
            #expect(book.grant(authorization: header) == nil, "\(header ?? "nil")")
        }
    }

    @Test func patternsAllowExactNamesPrefixesAndEverything() throws {
        let book = try APIKeyBook(json: Data(Self.file.utf8))
        let acme = try #require(book.grant(authorization: "Bearer sk-acme-key"))
        #expect(acme.allows("SmolLM2-135M-Instruct") && acme.allows("acme/support") && acme.allows("acme/a/b"))
        #expect(!acme.allows("beta/support") && !acme.allows("acme") && !acme.allows("acmex/support") && !acme.allows("SmolLM2-135M"))
        #expect(try #require(book.grant(authorization: "Bearer sk-beta-key")).allows("anything/at-all"))
    }

    @Test(arguments: [
        (#"{"keys": [{"tenant": "a", "models": ["*"]}]}"#, "keys[0]: give exactly one of 'key' and 'sha256'"),
        (#"{"keys": [{"key": "k", "sha256": "00", "tenant": "a", "models": ["*"]}]}"#, "keys[0]: give exactly one of 'key' and 'sha256'"),
        (#"{"keys": [{"sha256": "abc", "tenant": "a", "models": ["*"]}]}"#, "keys[0]: 'sha256' must be 64 hex digits"),
        (#"{"keys": [{"key": "k", "tenant": "", "models": ["*"]}]}"#, "keys[0]: 'tenant' is empty"),
        (#"{"keys": [{"key": "k", "tenant": "a", "models": ["a*"]}]}"#, "keys[0]: model pattern 'a*' is not a name, 'prefix/*' or '*'"),
        (#"{"keys": [{"key": "k", "tenant": "a", "models": ["*"], "requests_per_second": 0}]}"#, "keys[0]: 'requests_per_second' must be above 0"),
        (#"{"keys": [{"key": "k", "tenant": "a", "models": ["*"], "max_concurrent": 0}]}"#, "keys[0]: 'max_concurrent' must be at least 1"),
        (#"{"keys": [{"key": "k", "tenant": "a", "models": ["*"]}, {"key": "k", "tenant": "b", "models": ["*"]}]}"#, "keys[1]: the same key is listed twice"),
        (#"{"keys": [{"key": "k", "models": ["*"]}]}"#, "not an API-key file (missing 'keys.0.tenant')"),
        (#"{"keys": "#, "not an API-key file (not JSON)"),
    ])
    func malformedFilesAreRefusedNamingTheEntry(json: String, reason: String) {
        #expect(throws: APIKeyBook.LoadError.self) { try APIKeyBook(json: Data(json.utf8)) }
        do {
            _ = try APIKeyBook(json: Data(json.utf8))
        } catch {
            #expect(error.description == reason)
            // A refusal never repeats a key.
            #expect(!error.description.contains("\"k\""))
        }
    }
}

/// Token buckets on a manual clock: requests per second, concurrent requests, tokens per minute.
struct RateLimiterTests {
    static func grant(_ limits: APIKeyBook.Limits) -> APIKeyBook.Grant {
        APIKeyBook.Grant(keyDigest: String(repeating: "a", count: 64), tenant: "t", models: ["*"], limits: limits)
    }

    @Test func requestsPerSecondRefillOverTime() {
        var limiter = RateLimiter()
        let grant = Self.grant(.init(requestsPerSecond: 2))
        #expect(limiter.admit(grant, tokens: 1, now: 0).refusal == nil)
        #expect(limiter.admit(grant, tokens: 1, now: 0).refusal == nil)
        let refused = limiter.admit(grant, tokens: 1, now: 0.1)
        // 0.2 of a request refilled by 0.1 s: 0.4 s to the next.
        #expect(refused.refusal.map { abs($0.retryAfter - 0.4) < 1e-9 } == true)
        #expect(refused.headers.first { $0.name == "x-ratelimit-remaining-requests" }?.value == "0")
        #expect(refused.headers.first { $0.name == "x-ratelimit-limit-requests" }?.value == "2")
        #expect(limiter.admit(grant, tokens: 1, now: 0.5).refusal == nil)
    }

    @Test func concurrentRequestsCountUntilTheyFinish() {
        var limiter = RateLimiter()
        let grant = Self.grant(.init(maxConcurrent: 2))
        #expect(limiter.admit(grant, tokens: 1, now: 0).refusal == nil)
        #expect(limiter.admit(grant, tokens: 1, now: 0).refusal == nil)
        #expect(limiter.admit(grant, tokens: 1, now: 5).refusal?.message == "Rate limit reached for concurrent requests: 2 at a time")
        limiter.finished(grant)
        #expect(limiter.admit(grant, tokens: 1, now: 5).refusal == nil)
    }

    @Test func tokensPerMinuteChargePromptAndMaxTokens() {
        var limiter = RateLimiter()
        let grant = Self.grant(.init(tokensPerMinute: 600))
        #expect(limiter.admit(grant, tokens: 500, now: 0).refusal == nil)
        let refused = limiter.admit(grant, tokens: 200, now: 0)
        // 100 left, 10 tokens a second: 10 s until 200 fit.
        #expect(refused.refusal.map { abs($0.retryAfter - 10) < 1e-9 } == true)
        #expect(refused.headers.first { $0.name == "x-ratelimit-remaining-tokens" }?.value == "100")
        #expect(refused.headers.first { $0.name == "x-ratelimit-reset-tokens" }?.value == "50s")
        #expect(limiter.admit(grant, tokens: 200, now: 10).refusal == nil)
        #expect(limiter.admit(grant, tokens: 601, now: 1000).refusal?.message.hasPrefix("Request too large") == true)
    }

    @Test func noLimitsMeansNoRefusalAndNoHeaders() {
        var limiter = RateLimiter()
        let grant = Self.grant(.init())
        for _ in 0..<1000 { #expect(limiter.admit(grant, tokens: 1_000_000, now: 0).refusal == nil) }
        #expect(limiter.admit(grant, tokens: 1, now: 0).headers.isEmpty)
    }

    @Test func durationsReadAsOpenAIWritesThem() {
        #expect(RateLimiter.duration(0.0201) == "21ms" && RateLimiter.duration(1) == "1s" && RateLimiter.duration(360) == "6m0s")
    }
}
