import CCrypto
import PatchworkCore

/// Whose computation a cached KV block holds: the base model, or one adapter's *contents*.
///
/// Blocks are keyed by the adapter's content digest, not its name, so a reload of other weights
/// under the same name can never hit blocks computed with the old ones (the bug class of vLLM's
/// name-keyed prefix cache), and the same tokens under two adapters never share blocks.
public struct CacheNamespace: Hashable, Sendable {
    /// 32 bytes: the adapter's content digest, or SHA-256 of `"patchwork-base:" + model identity`.
    public let digest: [UInt8]
    /// For KV events: vLLM's `lora_name` and (deprecated) `lora_id`; nil for the base model.
    public let loraName: String?
    public let loraID: Int?

    /// The base model's namespace; `modelIdentity` names the model (served name and file digest).
    public static func base(modelIdentity: String) -> CacheNamespace {
        CacheNamespace(digest: SHA256.hash(Array("patchwork-base:\(modelIdentity)".utf8)), loraName: nil, loraID: nil)
    }

    public static func adapter(name: AdapterName, digest: ContentDigest) -> CacheNamespace {
        CacheNamespace(digest: digest.bytes, loraName: name.rawValue, loraID: name.loraID.rawValue)
    }
}

/// The chained hash of a full KV block:
/// `h = first 8 bytes, big-endian, of SHA-256(parent h as 8 bytes big-endian (0 for the first
/// block) ‖ namespace digest (32 bytes) ‖ the block's token ids as 4-byte little-endian)`.
/// A cryptographic hash, so a crafted prompt cannot collide with another tenant's prefix.
public enum BlockHasher {
    public static func hash(parent: UInt64?, namespace: CacheNamespace, tokens: ArraySlice<Int>) -> UInt64 {
        var input: [UInt8] = []
        input.reserveCapacity(8 + 32 + 4 * tokens.count)
        let p = parent ?? 0
        for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: p >> UInt64(shift))) }
        input += namespace.digest
        for token in tokens {
            let t = UInt32(truncatingIfNeeded: token)
            input += [UInt8(truncatingIfNeeded: t), UInt8(truncatingIfNeeded: t >> 8), UInt8(truncatingIfNeeded: t >> 16), UInt8(truncatingIfNeeded: t >> 24)]
        }
        return SHA256.hash(input).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Hashes of every full block of `tokens`, chained.
    public static func chain(tokens: [Int], blockSize: Int, namespace: CacheNamespace) -> [UInt64] {
        var hashes: [UInt64] = []
        var parent: UInt64?
        var start = 0
        while start + blockSize <= tokens.count {
            let h = hash(parent: parent, namespace: namespace, tokens: tokens[start..<start + blockSize])
            hashes.append(h)
            parent = h
            start += blockSize
        }
        return hashes
    }
}

/// SHA-256 through libcrypto.
enum SHA256 {
    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        bytes.withUnsafeBytes { raw in _ = EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil) }
        return digest
    }
}
