import PatchworkCore

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
