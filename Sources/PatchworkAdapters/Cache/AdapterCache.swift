import Foundation
import PatchworkHTTP
import Logging

/// The worker's disk cache of downloaded adapters (see ``CacheLayout`` for the files).
///
/// - Loads of one URI at the same time share one download; other URIs download in parallel,
///   each on a thread of its own.
/// - An entry is leased while an adapter loaded from it is registered; leased entries are never
///   evicted. Beyond `maxBytes`, the least recently used entries without a lease are removed.
/// - s3:// entries are keyed by the listing (keys, sizes, ETags), so changed objects make a new
///   entry; hf:// entries by commit, so a pinned commit is never fetched twice and a branch is
///   re-resolved on every load.
public actor AdapterCache {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var directory: URL
        /// False when the entry was already in the cache.
        public var downloaded: Bool
    }

    public struct Settings: Sendable {
        public var root: URL
        /// `--lora-cache-max-bytes`.
        public var maxBytes: Int64
        /// `--max-adapter-bytes`.
        public var maxAdapterBytes: Int64
        /// Seconds for one whole fetch, retries included.
        public var downloadTimeout: Double
        /// `max-keys` of S3 listings.
        public var s3PageSize: Int
        /// `--allow-link-local-sources`: downloads may reach link-local and cloud-metadata
        /// addresses (a store really served there); refused by default.
        public var allowsLinkLocal = false

        public init(root: URL, maxBytes: Int64, maxAdapterBytes: Int64, downloadTimeout: Double = 600, s3PageSize: Int = 1000) {
            self.root = root
            self.maxBytes = maxBytes
            self.maxAdapterBytes = maxAdapterBytes
            self.downloadTimeout = downloadTimeout
            self.s3PageSize = s3PageSize
        }
    }

    public nonisolated let layout: CacheLayout
    public nonisolated let settings: Settings
    private let environment: [String: String]
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private var inFlight: [AdapterSource: (task: Task<Entry, any Error>, progress: DownloadProgress)] = [:]
    private var leases: [String: Int] = [:]

    /// - Parameter environment: where `AWS_*`, `HF_ENDPOINT` and `HF_TOKEN` are read, at each fetch.
    public init(settings: Settings, environment: [String: String], logger: Logger, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.settings = settings
        layout = CacheLayout(root: settings.root)
        self.environment = environment
        self.logger = logger
        self.clock = clock
    }

    /// Creates the folder, removes leftovers of interrupted downloads and logs where the cache is.
    public nonisolated func prepare() throws(AdapterError) {
        do { try FileManager.default.createDirectory(at: layout.root, withIntermediateDirectories: true) } catch {
            throw AdapterError(.internalFailure, "cannot create the adapter cache \(layout.root.path): \(error.localizedDescription)")
        }
        let removed = layout.removeLeftovers()
        let keys = layout.entryKeys()
        let bytes = keys.compactMap { layout.manifest(key: $0)?.bytes }.reduce(0, +)
        logger.info("adapter cache ready", metadata: [
            "cache.path": "\(layout.root.path)", "cache.entries": "\(keys.count)", "cache.bytes": "\(bytes)",
            "cache.max_bytes": "\(settings.maxBytes)", "cache.leftovers_removed": "\(removed)",
        ])
    }

    /// The local folder of a remote source, downloaded when needed; the entry is leased until
    /// ``release(_:)``. `validate` checks a downloaded folder before it is installed.
    public func fetch(_ source: AdapterSource, validate: @escaping @Sendable (URL) throws(AdapterError) -> Void) async throws(AdapterError) -> Entry {
        for _ in 0..<2 {
            let entry = try await sharedFetch(source, validate: validate)
            // Re-checked after the await: an eviction may have run meanwhile.
            guard layout.manifest(key: entry.key) != nil else { continue }
            leases[entry.key, default: 0] += 1
            layout.touch(key: entry.key, at: clock())
            evict(protecting: entry.key)
            return entry
        }
        throw AdapterError(.internalFailure, "the cache entry of \(source) vanished twice while loading")
    }

    /// Ends a lease taken by ``fetch(_:validate:)``.
    public func release(_ key: String) {
        guard let count = leases[key] else { return }
        leases[key] = count > 1 ? count - 1 : nil
    }

    /// Progress of a running download of `source`.
    public func progress(of source: AdapterSource) -> DownloadProgress.Snapshot? { inFlight[source]?.progress.snapshot }

    private func sharedFetch(_ source: AdapterSource, validate: @escaping @Sendable (URL) throws(AdapterError) -> Void) async throws(AdapterError) -> Entry {
        let running: Task<Entry, any Error>
        if let existing = inFlight[source] {
            running = existing.task
        } else {
            let progress = DownloadProgress()
            let job = FetchJob(
                layout: layout, settings: settings, environment: environment, logger: logger, now: clock(),
                progress: progress, validate: validate
            )
            running = Task { () async throws -> Entry in
                try await BlockingThread.run("adapter-download") { () throws(AdapterError) -> Entry in try job.run(source) }
            }
            inFlight[source] = (running, progress)
            defer { inFlight[source] = nil }
            return try await Self.value(of: running)
        }
        return try await Self.value(of: running)
    }

    private static func value(of task: Task<Entry, any Error>) async throws(AdapterError) -> Entry {
        do { return try await task.value } catch let error as AdapterError { throw error } catch {
            throw AdapterError(.internalFailure, "download failed: \(error)")
        }
    }

    /// Removes least recently used entries without a lease until the cache fits its bound.
    private func evict(protecting protected: String) {
        var entries = layout.entryKeys().compactMap { key in layout.manifest(key: key).map { (key: key, manifest: $0) } }
        var total = entries.reduce(Int64(0)) { $0 + $1.manifest.bytes }
        guard total > settings.maxBytes else { return }
        entries.sort { $0.manifest.lastUsed < $1.manifest.lastUsed }
        for entry in entries where total > settings.maxBytes && entry.key != protected && leases[entry.key] == nil {
            layout.remove(key: entry.key)
            total -= entry.manifest.bytes
            logger.info("adapter cache entry evicted", metadata: [
                "cache.key": "\(entry.key)", "adapter.source": "\(entry.manifest.uri)", "cache.bytes": "\(total)",
            ])
        }
        if total > settings.maxBytes {
            logger.notice("adapter cache above its bound: every remaining entry is in use", metadata: [
                "cache.bytes": "\(total)", "cache.max_bytes": "\(settings.maxBytes)",
            ])
        }
    }
}
