import CCrypto
import Foundation
import PatchworkCore

/// Computes an adapter's ``ContentDigest``.
///
/// SHA-256 over, for each file in order (`adapter_config.json`, then the weight file): the
/// file name in UTF-8, one zero byte, the file size as 8 bytes big-endian, then its contents.
/// Names and sizes are part of the input so that moving bytes between files changes the digest.
public enum AdapterDigest {
    public static func compute(directory: String, files: [String]) throws(AdapterError) -> ContentDigest {
        guard let context = EVP_MD_CTX_new() else { throw AdapterError(.internalFailure, "cannot allocate a SHA-256 context") }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw AdapterError(.notFound, "cannot open \(file) in \(directory)")
            }
            defer { try? handle.close() }
            do {
                let size = try handle.seekToEnd()
                try handle.seek(toOffset: 0)
                var prefix = Array(file.utf8) + [0]
                prefix += (0..<8).map { UInt8(truncatingIfNeeded: size >> (56 - 8 * UInt64($0))) }
                EVP_DigestUpdate(context, prefix, prefix.count)
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    chunk.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
                }
            } catch {
                throw AdapterError(.internalFailure, "reading \(file) failed: \(error.localizedDescription)")
            }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return ContentDigest(bytes: digest)
    }
}
