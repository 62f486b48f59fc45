import Foundation
import Logging
import PatchworkAdapters
import PatchworkCore
import PatchworkTesting
import Testing

/// The cache fetching from real servers: moto (a real S3-compatible server with signature
/// checking on) and a local server speaking the Hub's protocol (the public Hub cannot be reached
/// from here). Digests are checked against Python's hashlib (Tests/Fixtures/make_vectors.py).
@Suite(.serialized) struct RemoteSourceTests {
    static let adapter = "smollm2-qv-r8"
    static let loader = AdapterLoader(validator: AdapterValidator(dimensions: AdapterValidatorTests.smol, maxRank: 64))
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let validate: @Sendable (URL) throws(AdapterError) -> Void = { directory throws(AdapterError) in
        try loader.validate(directory: directory.path, source: directory.path)
    }

    static func documentedDigest() throws -> String {
        struct Vector: Decodable { var adapter: String; var sha256: String }
        return try JSONDecoder().decode([Vector].self, from: TestPaths.vectors("adapter_digests")).first { $0.adapter == adapter }!.sha256
    }

    static func cache(
        _ folder: TemporaryFolder, environment: [String: String], maxBytes: Int64 = 1 << 30, maxAdapterBytes: Int64 = 64 << 20, pageSize: Int = 1000
    ) -> AdapterCache {
        AdapterCache(
            settings: .init(root: folder.url, maxBytes: maxBytes, maxAdapterBytes: maxAdapterBytes, downloadTimeout: 60, s3PageSize: pageSize),
            environment: environment, logger: logger
        )
    }

    static func digest(of entry: AdapterCache.Entry) throws -> String {
        try AdapterDigest.compute(directory: entry.directory.path, files: [AdapterLoader.configFile, AdapterLoader.weightsFile]).hex
    }

    @Test func s3PaginatesDownloadsAndRefusesAWrongSecret() async throws {
        let s3 = try await S3TestServer(
            uploads: ["s3://adapters/qv": TestPaths.adapter(Self.adapter), "s3://adapters/paged": TestPaths.adapter(Self.adapter)],
            fillers: ["s3://adapters/paged": 250]
        )
        defer { s3.stop() }
        let folder = try TemporaryFolder()
        let cache = Self.cache(folder, environment: s3.environment(), pageSize: 100)
        try cache.prepare()

        let entry = try await cache.fetch(try AdapterSource(uri: "s3://adapters/qv"), validate: Self.validate)
        #expect(entry.downloaded)
        #expect(try Self.digest(of: entry) == Self.documentedDigest())
        let again = try await cache.fetch(try AdapterSource(uri: "s3://adapters/qv/"), validate: Self.validate)
        #expect(!again.downloaded && again.key == entry.key)

        // Virtual-hosted addressing (bucket in the host name; libcurl resolves *.localhost itself).
        let virtualFolder = try TemporaryFolder()
        var virtualEnvironment = s3.environment()
        virtualEnvironment["AWS_ENDPOINT_URL"] = s3.endpoint.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        virtualEnvironment["AWS_S3_ADDRESSING_STYLE"] = "virtual"
        let virtual = Self.cache(virtualFolder, environment: virtualEnvironment)
        let virtualEntry = try await virtual.fetch(try AdapterSource(uri: "s3://adapters/qv"), validate: Self.validate)
        #expect(try Self.digest(of: virtualEntry) == Self.documentedDigest())

        // 252 objects with 100 keys per page: three listing pages, every object downloaded.
        let paged = try await cache.fetch(try AdapterSource(uri: "s3://adapters/paged"), validate: Self.validate)
        let manifest = try #require(cache.layout.manifest(key: paged.key))
        #expect(manifest.files.count == 252)
        #expect(FileManager.default.fileExists(atPath: paged.directory.appendingPathComponent("extra/file-0249.txt").path))

        // A wrong secret: refused with a clear message, and nothing is left in the cache.
        let other = try TemporaryFolder()
        let refused = Self.cache(other, environment: s3.environment(secret: "wrong-secret"))
        try refused.prepare()
        await #expect { try await refused.fetch(try AdapterSource(uri: "s3://adapters/qv"), validate: Self.validate) } throws: { error in
            guard let error = error as? AdapterError else { return false }
            return error.kind == .forbidden && error.message.contains("refused the credentials") && error.message.contains("SignatureDoesNotMatch")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: other.url.path).isEmpty)

        // Larger than --max-adapter-bytes: refused from the listing, before any download.
        let small = try TemporaryFolder()
        let bounded = Self.cache(small, environment: s3.environment(), maxAdapterBytes: 100_000)
        await #expect { try await bounded.fetch(try AdapterSource(uri: "s3://adapters/qv"), validate: Self.validate) } throws: { error in
            (error as? AdapterError)?.kind == .tooLarge && (error as? AdapterError)?.message.contains("--max-adapter-bytes 100000") == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: small.url.path).isEmpty)

        await #expect { try await cache.fetch(try AdapterSource(uri: "s3://adapters/none"), validate: Self.validate) } throws: { error in
            (error as? AdapterError)?.kind == .notFound && (error as? AdapterError)?.message.contains("nothing there") == true
        }
    }

    static let commitA = String(repeating: "a1", count: 20)
    static let commitB = String(repeating: "b2", count: 20)

    /// A repository holding adapters in subfolders (`adapters/qv`, `adapters/rslora`).
    static let multi: URL = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("patchwork-hub-multi-\(UUID().uuidString.prefix(8))")
        for (name, fixture) in [("qv", adapter), ("rslora", "smollm2-qkvo-rslora-r16")] {
            let folder = root.appendingPathComponent("adapters/\(name)")
            try? FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? FileManager.default.copyItem(at: TestPaths.adapter(fixture), to: folder)
        }
        return root
    }()

    static func hub() async throws -> HubTestServer {
        let qv = TestPaths.adapter(adapter), rslora = TestPaths.adapter("smollm2-qkvo-rslora-r16")
        return try await HubTestServer(repositories: [
            .init(name: "org/multi", revisions: ["main": commitA], commits: [commitA: multi]),
            .init(name: "org/qv", revisions: ["main": commitA, "v1": commitA], commits: [commitA: qv, commitB: rslora]),
            .init(name: "org/private", token: "hf_secret", revisions: ["main": commitA], commits: [commitA: qv]),
            .init(name: "org/gated", token: "hf_secret", gated: true, revisions: ["main": commitA], commits: [commitA: qv]),
            .init(name: "org/flaky", failFirst: 2, revisions: ["main": commitA], commits: [commitA: qv]),
        ])
    }

    @Test func hubResolvesRevisionsCachesByCommitAndSharesDownloads() async throws {
        let hub = try await Self.hub()
        defer { hub.stop() }
        let folder = try TemporaryFolder()
        let cache = Self.cache(folder, environment: ["HF_ENDPOINT": hub.endpoint])
        try cache.prepare()

        // Eight loads of one URI at once: one download (two files, each redirected once).
        let source = try AdapterSource(uri: "hf://org/qv")
        let entries = try await withThrowingTaskGroup(of: AdapterCache.Entry.self) { group in
            for _ in 0..<8 { group.addTask { try await cache.fetch(source, validate: Self.validate) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(entries.map(\.key)).count == 1)
        #expect(try await hub.stats()["cdn"] == 2)
        #expect(try Self.digest(of: entries[0]) == Self.documentedDigest())
        #expect(entries[0].key.hasSuffix(Self.commitA))

        // A branch is re-resolved (one API call), its commit's files are not fetched again.
        let before = try await hub.stats()
        _ = try await cache.fetch(try AdapterSource(uri: "hf://org/qv@v1"), validate: Self.validate)
        var after = try await hub.stats()
        #expect(after["revision"] == before["revision"]! + 1 && after["cdn"] == before["cdn"])

        // A pinned commit in the cache needs no request at all.
        _ = try await cache.fetch(try AdapterSource(uri: "hf://org/qv@\(Self.commitA)"), validate: Self.validate)
        #expect(try await hub.stats() == after)

        // The branch moves: the next load gets the new commit's files.
        try await hub.move("org/qv", revision: "main", to: Self.commitB)
        let moved = try await cache.fetch(source, validate: Self.validate)
        after = try await hub.stats()
        #expect(moved.downloaded && moved.key.hasSuffix(Self.commitB) && after["cdn"] == 4)
    }

    @Test func hubTokensAndMissingThingsGiveClearErrors() async throws {
        let hub = try await Self.hub()
        defer { hub.stop() }
        let folder = try TemporaryFolder()
        let anonymous = Self.cache(folder, environment: ["HF_ENDPOINT": hub.endpoint])
        func failure(_ cache: AdapterCache, _ uri: String) async -> AdapterError? {
            do { _ = try await cache.fetch(try AdapterSource(uri: uri), validate: Self.validate); return nil } catch { return error }
        }
        let noToken = await failure(anonymous, "hf://org/private")
        #expect(noToken?.kind == .forbidden && noToken?.message.contains("set HF_TOKEN") == true)
        let gated = await failure(anonymous, "hf://org/gated")
        #expect(gated?.kind == .forbidden && gated?.message.contains("gated") == true)
        let missing = await failure(anonymous, "hf://org/nothing")
        #expect(missing?.kind == .notFound && missing?.message.contains("no such repository") == true)
        let badRevision = await failure(anonymous, "hf://org/qv@no-such-branch")
        #expect(badRevision?.kind == .notFound && badRevision?.message.contains("RevisionNotFound") == true)

        let wrongToken = Self.cache(folder, environment: ["HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_wrong"])
        let refused = await failure(wrongToken, "hf://org/private")
        #expect(refused?.kind == .forbidden && refused?.message.contains("refused HF_TOKEN") == true)

        // An adapter in a subfolder of a repository that holds several.
        let nested = try await anonymous.fetch(try AdapterSource(uri: "hf://org/multi/adapters/qv"), validate: Self.validate)
        #expect(try Self.digest(of: nested) == Self.documentedDigest())
        let missingFolder = await failure(anonymous, "hf://org/multi/adapters/none")
        #expect(missingFolder?.kind == .notFound && missingFolder?.message.contains("adapters/none/adapter_config.json") == true)

        // Two 503 answers, then success: retried with backoff, no error.
        let before = try await hub.stats()["revision"] ?? 0
        _ = try await anonymous.fetch(try AdapterSource(uri: "hf://org/flaky"), validate: Self.validate)
        #expect(try await hub.stats()["revision"] == before + 3)

        let withToken = Self.cache(folder, environment: ["HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_secret"])
        let entry = try await withToken.fetch(try AdapterSource(uri: "hf://org/private"), validate: Self.validate)
        #expect(try Self.digest(of: entry) == Self.documentedDigest())
        _ = try await withToken.fetch(try AdapterSource(uri: "hf://org/gated"), validate: Self.validate)
    }

    /// Two different URIs download at the same time (each on its own thread): both make
    /// progress before either finishes.
    /// A store configured at a link-local or cloud-metadata address is refused (403) before any
    /// connection, for S3 and the Hub, unless the worker allows it.
    @Test func storesAtMetadataAddressesAreRefused() async throws {
        for (uri, environment) in [
            ("s3://adapters/qv", ["AWS_ENDPOINT_URL": "http://169.254.169.254", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"]),
            ("hf://someone/adapter", ["HF_ENDPOINT": "http://169.254.169.254"]),
        ] {
            let folder = try TemporaryFolder()
            let cache = Self.cache(folder, environment: environment)
            try cache.prepare()
            await #expect { try await cache.fetch(try AdapterSource(uri: uri), validate: Self.validate) } throws: { error in
                guard let error = error as? AdapterError else { return false }
                return error.kind == .forbidden && error.message.contains("link-local or cloud-metadata")
            }
        }
    }

    @Test func differentSourcesDownloadInParallel() async throws {
        let qv = TestPaths.adapter(Self.adapter)
        let hub = try await HubTestServer(repositories: [
            .init(name: "org/one", bytesPerSecond: 400_000, revisions: ["main": Self.commitA], commits: [Self.commitA: qv]),
            .init(name: "org/two", bytesPerSecond: 400_000, revisions: ["main": Self.commitA], commits: [Self.commitA: qv]),
        ])
        defer { hub.stop() }
        let folder = try TemporaryFolder()
        let cache = Self.cache(folder, environment: ["HF_ENDPOINT": hub.endpoint])
        let one = try AdapterSource(uri: "hf://org/one"), two = try AdapterSource(uri: "hf://org/two")
        async let first = cache.fetch(one, validate: Self.validate)
        async let second = cache.fetch(two, validate: Self.validate)
        let overlapping = await eventually(timeout: .seconds(10)) {
            let a = await cache.progress(of: one), b = await cache.progress(of: two)
            guard let a, let b, let total = a.bytesTotal else { return false }
            return a.bytesDone > 0 && b.bytesDone > 0 && a.bytesDone < total && b.bytesDone < total
        }
        #expect(overlapping)
        let entries = try await [first, second]
        #expect(entries.allSatisfy(\.downloaded) && entries[0].key != entries[1].key)
    }

    @Test func evictsLeastRecentlyUsedEntriesWithoutALease() async throws {
        let hub = try await Self.hub()
        defer { hub.stop() }
        let folder = try TemporaryFolder()
        // Room for one 0.94 MB adapter and the small two-layer one, not for two large ones.
        let cache = Self.cache(folder, environment: ["HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_secret"], maxBytes: 1_500_000)
        try cache.prepare()
        let first = try await cache.fetch(try AdapterSource(uri: "hf://org/qv"), validate: Self.validate)
        let second = try await cache.fetch(try AdapterSource(uri: "hf://org/qv@\(Self.commitB)"), validate: Self.validate)
        // Both leased: both kept, although the bound is exceeded.
        #expect(Set(cache.layout.entryKeys()) == [first.key, second.key])
        await cache.release(first.key)
        await cache.release(second.key)
        let third = try await cache.fetch(try AdapterSource(uri: "hf://org/private"), validate: Self.validate)
        // The oldest unleased entry goes first, and only as many as needed to fit the bound.
        #expect(Set(cache.layout.entryKeys()) == [second.key, third.key])
        let total = cache.layout.entryKeys().compactMap { cache.layout.manifest(key: $0)?.bytes }.reduce(0, +)
        #expect(total <= 1_500_000)
    }
}
