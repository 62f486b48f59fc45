import Foundation
import PatchworkHTTP
import Logging

/// One fetch of a remote source into the cache, run on its own thread: resolve what the source
/// holds now, return the complete entry if the cache has it, else download, check and install it.
struct FetchJob: Sendable {
    let layout: CacheLayout
    let settings: AdapterCache.Settings
    let environment: [String: String]
    let logger: Logger
    let now: Double
    let progress: DownloadProgress
    let validate: @Sendable (URL) throws(AdapterError) -> Void

    func run(_ source: AdapterSource) throws(AdapterError) -> AdapterCache.Entry {
        let deadline = ContinuousClock.now + .seconds(settings.downloadTimeout)
        var retry = RetryPolicy()
        retry.totalTimeout = settings.downloadTimeout
        let onRetry: @Sendable (String) -> Void = { [logger] message in
            logger.warning("adapter download retry", metadata: ["detail": "\(message)"])
        }
        switch source {
        case .file:
            throw AdapterError(.internalFailure, "file:// sources are not cached")
        case .s3(let location):
            var client = S3Client(configuration: try S3Configuration.fromEnvironment(environment))
            client.retry = retry
            client.pageSize = settings.s3PageSize
            client.refusesLinkLocal = !settings.allowsLinkLocal
            client.onRetry = onRetry
            return try fetchS3(location, client: client, deadline: deadline)
        case .hf(let location):
            var client = HubClient(environment: environment)
            client.retry = retry
            client.refusesLinkLocal = !settings.allowsLinkLocal
            client.onRetry = onRetry
            return try fetchHub(location, client: client, deadline: deadline)
        }
    }

    private func fetchS3(_ location: S3Location, client: S3Client, deadline: ContinuousClock.Instant) throws(AdapterError) -> AdapterCache.Entry {
        let endpoint = (try? client.configuration.base(for: location.bucket)).map { "\($0.scheme)://\($0.host)\($0.pathPrefix)" } ?? ""
        let objects = try client.list(location, deadline: deadline).filter { !$0.key.hasSuffix("/") }
        guard !objects.isEmpty else {
            throw AdapterError(.notFound, "\(location): nothing there (no objects under the prefix '\(location.listingPrefix)')")
        }
        var files: [(path: String, object: S3Object)] = []
        for object in objects {
            files.append((try RelativePath.checked(location.relativePath(of: object.key), from: location.description), object))
        }
        let total = files.reduce(Int64(0)) { $0 + $1.object.size }
        try checkSize(total, source: location.description)
        // The key names the listing's contents, so changed objects never hit an old entry.
        let listing = files.sorted { $0.path < $1.path }.map { "\($0.path)\u{0}\($0.object.size)\u{0}\($0.object.etag)\n" }.joined()
        let key = "s3-\(shortHash(endpoint + "\u{0}" + location.description))-\(shortHash(listing))"
        if layout.manifest(key: key) != nil { return AdapterCache.Entry(key: key, directory: layout.directory(key: key), downloaded: false) }

        progress.expect(bytes: total, files: files.count)
        logStart(location.description, key: key, bytes: total, files: files.count)
        let started = ContinuousClock.now
        var download = try EntryDownload(layout: layout, key: key, source: location.description, progress: progress, logger: logger)
        do {
            for file in files {
                let budget = settings.maxAdapterBytes - download.bytes
                try download.file(file.path, expectedSize: file.object.size, etag: file.object.etag) { destination, report throws(AdapterError) in
                    try client.download(
                        bucket: location.bucket, key: file.object.key, to: destination, maxBytes: budget,
                        deadline: deadline, progress: report
                    )
                }
            }
            try download.commit(uri: location.description, endpoint: endpoint, commit: nil, now: now, validate: validate)
        } catch {
            download.discard()
            throw error
        }
        logDone(location.description, key: key, bytes: download.bytes, started: started)
        return AdapterCache.Entry(key: key, directory: layout.directory(key: key), downloaded: true)
    }

    private func fetchHub(_ location: HubLocation, client: HubClient, deadline: ContinuousClock.Instant) throws(AdapterError) -> AdapterCache.Entry {
        let repoHash = shortHash(client.endpoint + "\u{0}" + location.repository + "\u{0}" + location.subfolder)
        // A full commit hash names fixed files: a cached copy needs no request at all.
        if location.isPinned, layout.manifest(key: "hf-\(repoHash)-\(location.revision)") != nil {
            let key = "hf-\(repoHash)-\(location.revision)"
            return AdapterCache.Entry(key: key, directory: layout.directory(key: key), downloaded: false)
        }
        let revision = try client.resolve(location, deadline: deadline)
        guard revision.commit.count >= 7, revision.commit.allSatisfy({ $0.isHexDigit }) else {
            throw AdapterError(.upstreamFailure, "\(location): the Hub named commit '\(revision.commit.prefix(80))', which is not a commit hash")
        }
        let key = "hf-\(repoHash)-\(revision.commit.lowercased())"
        if layout.manifest(key: key) != nil { return AdapterCache.Entry(key: key, directory: layout.directory(key: key), downloaded: false) }

        let needed = [AdapterLoader.configFile, AdapterLoader.weightsFile]
        for file in needed where !revision.files.contains(location.path(of: file)) {
            if file == AdapterLoader.weightsFile && revision.files.contains(location.path(of: "adapter_model.bin")) {
                throw AdapterError(.invalidAdapter, "\(location) has only adapter_model.bin (pickle); save the adapter with safetensors")
            }
            throw AdapterError(.notFound, "\(location) at commit \(revision.commit) has no \(location.path(of: file))")
        }
        let sizes = needed.compactMap { revision.sizes[location.path(of: $0)] }
        let total: Int64? = sizes.count == needed.count ? sizes.reduce(0, +) : nil
        if let total { try checkSize(total, source: location.description) }
        progress.expect(bytes: total, files: needed.count)
        logStart(location.description, key: key, bytes: total, files: needed.count)
        let started = ContinuousClock.now
        var download = try EntryDownload(layout: layout, key: key, source: location.description, progress: progress, logger: logger)
        do {
            for file in needed {
                let budget = settings.maxAdapterBytes - download.bytes
                try download.file(file, expectedSize: revision.sizes[location.path(of: file)]) { destination, report throws(AdapterError) in
                    try client.download(
                        location, commit: revision.commit, path: location.path(of: file), to: destination, maxBytes: budget,
                        deadline: deadline, progress: report
                    )
                }
            }
            try download.commit(uri: location.description, endpoint: client.endpoint, commit: revision.commit, now: now, validate: validate)
        } catch {
            download.discard()
            throw error
        }
        logDone(location.description, key: key, bytes: download.bytes, started: started)
        return AdapterCache.Entry(key: key, directory: layout.directory(key: key), downloaded: true)
    }

    private func checkSize(_ bytes: Int64, source: String) throws(AdapterError) {
        guard bytes <= settings.maxAdapterBytes else {
            throw AdapterError(.tooLarge, "\(source) holds \(bytes) bytes, more than --max-adapter-bytes \(settings.maxAdapterBytes)")
        }
    }

    private func logStart(_ source: String, key: String, bytes: Int64?, files: Int) {
        logger.info("adapter download started", metadata: [
            "adapter.source": "\(source)", "cache.path": "\(layout.directory(key: key).path)",
            "bytes.total": "\(bytes.map(String.init) ?? "?")", "files": "\(files)",
        ])
    }

    private func logDone(_ source: String, key: String, bytes: Int64, started: ContinuousClock.Instant) {
        logger.info("adapter downloaded", metadata: [
            "adapter.source": "\(source)", "cache.path": "\(layout.directory(key: key).path)", "bytes": "\(bytes)",
            "seconds": "\(String(format: "%.2f", RetryPolicy.seconds(from: started, to: .now)))",
        ])
    }

    /// 16 hex digits of SHA-256: enough to keep keys apart, short enough for paths.
    private func shortHash(_ text: String) -> String { String(Hashing.sha256Hex(text).prefix(16)) }
}
