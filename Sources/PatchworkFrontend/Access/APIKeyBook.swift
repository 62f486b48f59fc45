import Foundation
import PatchworkCore
import PatchworkRuntime

/// The frontend's API keys (`--api-keys FILE`): who may call it, as which tenant, for which
/// models, within which limits. The file, written by operators and their tools:
///
///     {"keys": [
///       {"key": "sk-…", "tenant": "acme", "models": ["SmolLM2-135M-Instruct", "acme/*"],
///        "requests_per_second": 5, "max_concurrent": 4, "tokens_per_minute": 20000},
///       {"sha256": "<hex of the key>", "tenant": "beta", "models": ["*"]}
///     ]}
///
/// Keys are held only as their SHA-256; a presented key is hashed and compared with every
/// entry in constant time, so neither timing nor memory reveals a key.
struct APIKeyBook: Sendable {
    /// What one key grants.
    struct Grant: Sendable, Equatable {
        /// The key's SHA-256, hex: how limits and logs name it (never the key).
        var keyDigest: String
        var tenant: String
        /// Exact model or adapter names, `prefix/*` patterns, or `*`.
        var models: [String]
        var limits: Limits

        /// Whether the key may use `model` (a base model's or an adapter's name).
        func allows(_ model: String) -> Bool {
            models.contains { pattern in
                if pattern == "*" { return true }
                if pattern.hasSuffix("/*") { return model.hasPrefix(pattern.dropLast()) }
                return pattern == model
            }
        }
    }

    /// A key's limits; nil is no limit.
    struct Limits: Sendable, Equatable {
        var requestsPerSecond: Double?
        var maxConcurrent: Int?
        var tokensPerMinute: Double?
    }

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    private var entries: [(digest: [UInt8], grant: Grant)]

    var count: Int { entries.count }
    var tenants: Set<String> { Set(entries.map(\.grant.tenant)) }

    /// Parses the file's contents; names the entry at fault (by position, never by key).
    init(json: Data) throws(LoadError) {
        struct File: Decodable {
            struct Entry: Decodable {
                var key: String?
                var sha256: String?
                var tenant: String
                var models: [String]
                var requests_per_second: Double?
                var max_concurrent: Int?
                var tokens_per_minute: Double?
            }
            var keys: [Entry]
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: json) } catch {
            throw LoadError(description: "not an API-key file (\(Self.reason(error)))")
        }
        var entries: [(digest: [UInt8], grant: Grant)] = []
        for (position, entry) in file.keys.enumerated() {
            let at = "keys[\(position)]"
            let digest: [UInt8]
            switch (entry.key, entry.sha256) {
            case (let key?, nil):
                guard !key.isEmpty else { throw LoadError(description: "\(at): 'key' is empty") }
                digest = SHA256.hash(Array(key.utf8))
            case (nil, let hex?):
                guard let bytes = Hex.decode(hex.lowercased()), bytes.count == 32 else {
                    throw LoadError(description: "\(at): 'sha256' must be 64 hex digits")
                }
                digest = bytes
            default:
                throw LoadError(description: "\(at): give exactly one of 'key' and 'sha256'")
            }
            guard !entry.tenant.isEmpty else { throw LoadError(description: "\(at): 'tenant' is empty") }
            if let bad = entry.models.first(where: { $0.isEmpty || ($0.contains("*") && $0 != "*" && !($0.hasSuffix("/*") && $0.filter { $0 == "*" }.count == 1)) }) {
                throw LoadError(description: "\(at): model pattern '\(bad)' is not a name, 'prefix/*' or '*'")
            }
            for (name, value) in [("requests_per_second", entry.requests_per_second), ("tokens_per_minute", entry.tokens_per_minute)] {
                if let value, !(value > 0 && value.isFinite) { throw LoadError(description: "\(at): '\(name)' must be above 0") }
            }
            if let concurrent = entry.max_concurrent, concurrent < 1 { throw LoadError(description: "\(at): 'max_concurrent' must be at least 1") }
            guard !entries.contains(where: { $0.digest == digest }) else { throw LoadError(description: "\(at): the same key is listed twice") }
            entries.append((digest, Grant(
                keyDigest: Hex.encode(digest), tenant: entry.tenant, models: entry.models,
                limits: Limits(requestsPerSecond: entry.requests_per_second, maxConcurrent: entry.max_concurrent, tokensPerMinute: entry.tokens_per_minute)
            )))
        }
        self.entries = entries
    }

    /// The grant of the key an `Authorization` header presents (`Bearer KEY`), if any.
    func grant(authorization: String?) -> Grant? {
        guard let digest = BearerCredential.digest(authorization: authorization) else { return nil }
        // Every entry is compared in full: the time does not depend on which one (if any) matches.
        var found: Grant?
        for entry in entries where BearerCredential.constantTimeEqual(entry.digest, digest) { found = entry.grant }
        return found
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context): "missing '\(path(context.codingPath + [key]))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context): "wrong type at '\(path(context.codingPath))'"
        case DecodingError.dataCorrupted: "not JSON"
        default: "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}
