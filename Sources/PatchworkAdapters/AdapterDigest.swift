import Foundation
import PatchworkCore

/// Computes an adapter's ``ContentDigest``.
///
/// SHA-256 over, for each file in order (`adapter_config.json`, then the weight file): the
/// file name in UTF-8, one zero byte, the file size as 8 bytes big-endian, then its contents.
/// Names and sizes are part of the input so that moving bytes between files changes the digest.
public enum AdapterDigest {
    public static func compute(directory: String, files: [String]) throws(AdapterError) -> ContentDigest {
        var digest = StreamingDigest(.sha256)
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
                digest.update(prefix)
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    chunk.withUnsafeBytes { digest.update($0) }
                }
            } catch {
                throw AdapterError(.internalFailure, "reading \(file) failed: \(error.localizedDescription)")
            }
        }
        return ContentDigest(bytes: digest.finish())
    }
}
