import CCrypto
import Foundation
import PatchworkCore

/// HMAC-SHA256 over libcrypto, for signing requests; the digests themselves come from
/// ``PatchworkCore/SHA256`` and ``PatchworkCore/StreamingDigest``.
enum Hashing {
    static func sha256Hex(_ text: String) -> String { SHA256.hex(of: text) }

    static func hmacSHA256(key: [UInt8], _ message: String) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(message.utf8)
        _ = HMAC(EVP_sha256(), key, Int32(key.count), bytes, bytes.count, &output, &length)
        return output
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
}
