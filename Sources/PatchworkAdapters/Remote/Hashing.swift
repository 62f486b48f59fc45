import CCrypto
import Foundation

/// SHA-256, MD5 and HMAC-SHA256 over libcrypto, for signing requests and checking downloads.
enum Hashing {
    static func sha256(_ bytes: some DataProtocol) -> [UInt8] {
        var digest = StreamingDigest(.sha256)
        digest.update(bytes)
        return digest.finish()
    }

    static func sha256Hex(_ text: String) -> String { hex(sha256(Data(text.utf8))) }

    static func hmacSHA256(key: [UInt8], _ message: String) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(message.utf8)
        _ = HMAC(EVP_sha256(), key, Int32(key.count), bytes, bytes.count, &output, &length)
        return output
    }

    static func hex(_ bytes: [UInt8]) -> String {
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

/// A digest fed piece by piece (a download's bytes as they arrive).
struct StreamingDigest: ~Copyable {
    enum Algorithm { case sha256, md5 }

    private let context: OpaquePointer

    init(_ algorithm: Algorithm) {
        // Allocation failure of a few hundred bytes is not recoverable here.
        context = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(context, algorithm == .sha256 ? EVP_sha256() : EVP_md5(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    mutating func update(_ bytes: some DataProtocol) {
        for region in bytes.regions {
            region.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        }
    }

    mutating func update(_ pointer: UnsafeRawBufferPointer) {
        _ = EVP_DigestUpdate(context, pointer.baseAddress, pointer.count)
    }

    consuming func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }
}
