/// A SHA-256 digest of an adapter's contents (its config and weight files), in lowercase hex.
///
/// It is the adapter's identity for caching: KV blocks computed under an adapter are keyed by
/// this digest, not by the adapter's name, so a reload of other weights under the same name can
/// never reuse blocks computed with the old ones.
public struct ContentDigest: Hashable, Sendable, Codable, CustomStringConvertible {
    public let hex: String

    /// - Precondition: `bytes` is a 32-byte SHA-256 digest.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
        hex = Hex.encode(bytes)
    }

    /// Parses 64 lowercase hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            return nil
        }
        self.hex = hex
    }

    public var description: String { "sha256:\(hex)" }

    /// The 32 bytes of the digest.
    public var bytes: [UInt8] { Hex.decode(hex)! }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let digest = ContentDigest(hex: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 hex digest"))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
