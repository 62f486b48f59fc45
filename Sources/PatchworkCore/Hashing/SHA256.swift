import CCrypto

/// SHA-256 (and MD5, for S3's ETags) over libcrypto: the one place Patchwork hashes bytes.
public enum SHA256 {
    /// The digest of `bytes`, 32 bytes.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        bytes.withUnsafeBytes { raw in _ = EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil) }
        return digest
    }

    /// Lowercase hex of the digest of `text`'s UTF-8 bytes.
    public static func hex(of text: String) -> String { Hex.encode(hash(Array(text.utf8))) }
}

/// A digest fed piece by piece (a file or a download's bytes as they arrive).
public struct StreamingDigest: ~Copyable {
    public enum Algorithm: Sendable { case sha256, md5 }

    private let context: OpaquePointer

    public init(_ algorithm: Algorithm) {
        // Allocation failure of a few hundred bytes is not recoverable here.
        context = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(context, algorithm == .sha256 ? EVP_sha256() : EVP_md5(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
    }

    public mutating func update(_ pointer: UnsafeRawBufferPointer) {
        _ = EVP_DigestUpdate(context, pointer.baseAddress, pointer.count)
    }

    public consuming func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    /// The bytes of `text`, two hex digits each (either case); nil when it is not that.
    public static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ d: UInt8) -> UInt8? {
            switch d {
            case 0x30...0x39: d - 0x30
            case 0x61...0x66: d - 0x61 + 10
            case 0x41...0x46: d - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
