import Foundation
import Logging
import PatchworkCore
import PatchworkHTTP

/// One download into the cache: files go into a `.partial-*` folder, are checked, validated as
/// an adapter, and the folder is renamed into place. Anything that fails removes the folder.
struct EntryDownload {
    let layout: CacheLayout
    let key: String
    let source: String
    let progress: DownloadProgress
    let logger: Logger
    let partial: URL
    private var bytesBefore: Int64 = 0
    private var lastLog = ContinuousClock.now
    private(set) var files: [CacheManifest.File] = []

    init(layout: CacheLayout, key: String, source: String, progress: DownloadProgress, logger: Logger) throws(AdapterError) {
        self.layout = layout
        self.key = key
        self.source = source
        self.progress = progress
        self.logger = logger
        partial = try layout.makePartial(key: key)
    }

    /// Downloads one file with `transfer(destination, progress)`, which returns the bytes written.
    mutating func file(
        _ relativePath: String, expectedSize: Int64?, etag: String? = nil,
        _ transfer: (URL, @escaping (Int64, Int64) -> Bool) throws(AdapterError) -> Int64
    ) throws(AdapterError) {
        let destination = partial.appendingPathComponent(relativePath)
        do {
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw AdapterError(.internalFailure, "cannot create a folder in \(partial.path): \(error.localizedDescription)")
        }
        let before = bytesBefore, progress = progress, logger = logger, source = source
        var lastLog = self.lastLog
        let written = try transfer(destination) { done, total in
            progress.set(bytesDone: before + done)
            if ContinuousClock.now - lastLog > .seconds(5) {
                lastLog = .now
                let snapshot = progress.snapshot
                logger.info("adapter download progress", metadata: [
                    "adapter.source": "\(source)", "bytes.done": "\(snapshot.bytesDone)", "bytes.total": "\(snapshot.bytesTotal.map(String.init) ?? "?")",
                ])
            }
            return true
        }
        self.lastLog = lastLog
        if let expectedSize, written != expectedSize {
            throw AdapterError(.upstreamFailure, "\(source): \(relativePath) arrived with \(written) bytes, \(expectedSize) were announced")
        }
        // A single-part S3 upload's ETag is the MD5 of its bytes: check what arrived.
        if let etag, etag.count == 32, etag.allSatisfy(\.isHexDigit) {
            let actual = try Self.md5(of: destination)
            guard actual == etag.lowercased() else {
                throw AdapterError(.upstreamFailure, "\(source): \(relativePath) arrived corrupted (MD5 \(actual), ETag \(etag))")
            }
        }
        bytesBefore += written
        progress.set(bytesDone: bytesBefore)
        progress.fileFinished()
        files.append(CacheManifest.File(path: relativePath, size: written, etag: etag))
    }

    /// Validates the folder and installs it under its key.
    func commit(uri: String, endpoint: String, commit: String?, now: Double, validate: (URL) throws(AdapterError) -> Void) throws(AdapterError) {
        try validate(partial)
        let manifest = CacheManifest(uri: uri, endpoint: endpoint, commit: commit, files: files, bytes: bytesBefore, createdAt: now, lastUsed: now)
        try layout.commit(partial: partial, key: key, manifest: manifest)
    }

    func discard() { try? FileManager.default.removeItem(at: partial) }

    var bytes: Int64 { bytesBefore }

    static func md5(of file: URL) throws(AdapterError) -> String {
        guard let handle = FileHandle(forReadingAtPath: file.path) else { throw AdapterError(.internalFailure, "cannot reopen \(file.path)") }
        defer { try? handle.close() }
        var digest = StreamingDigest(.md5)
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { digest.update($0) } }
        } catch {
            throw AdapterError(.internalFailure, "cannot read \(file.path): \(error.localizedDescription)")
        }
        return Hashing.hex(digest.finish())
    }
}
