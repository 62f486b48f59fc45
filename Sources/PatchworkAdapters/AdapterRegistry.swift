import Foundation
import PatchworkHTTP
import Logging
import PatchworkCore

/// A worker's adapters: runs loads and unloads as ``AdapterLifecycle`` decides, and announces
/// every change through `onChange` (the worker forwards it to the routers).
public actor AdapterRegistry {
    public enum LoadOutcome: Sendable, Equatable {
        case loaded(AdapterRecord)
        case alreadyLoaded(AdapterRecord)
    }

    public nonisolated let enabled: Bool
    private let loader: AdapterLoader
    private let policy: SourcePolicy
    /// Where s3:// and hf:// adapters are downloaded; nil: only file:// sources are served.
    private let cache: AdapterCache?
    private let clock: @Sendable () -> Double
    private let onChange: @Sendable (AdapterEvent.Kind, AdapterRecord) -> Void
    private let install: @Sendable (AdapterRecord) async throws(AdapterError) -> Void
    private let uninstall: @Sendable (AdapterRecord) async -> Void
    private let logger: Logger
    private var lifecycle = AdapterLifecycle()
    private var inFlight: [AdapterName: Task<AdapterRecord, any Error>] = [:]
    /// Loads that read and validated files (joined and repeated loads not counted).
    public private(set) var loadsPerformed = 0

    /// - Parameters:
    ///   - enabled: `--enable-lora`; when off every operation answers 503.
    ///   - clock: seconds since the Unix epoch (injected for tests).
    ///   - install: makes a validated adapter servable by an engine that loads adapters itself
    ///     (a vLLM server): a load succeeds only when it does, and fails with its error.
    ///   - uninstall: removes an unloaded adapter from such an engine.
    ///   - onChange: a load or unload happened (after `install` / before `uninstall`).
    public init(
        enabled: Bool, loader: AdapterLoader, policy: SourcePolicy = SourcePolicy(), cache: AdapterCache? = nil,
        logger: Logger, clock: @escaping @Sendable () -> Double,
        install: @escaping @Sendable (AdapterRecord) async throws(AdapterError) -> Void = { _ in },
        uninstall: @escaping @Sendable (AdapterRecord) async -> Void = { _ in },
        onChange: @escaping @Sendable (AdapterEvent.Kind, AdapterRecord) -> Void
    ) {
        self.install = install
        self.uninstall = uninstall
        self.enabled = enabled
        self.loader = loader
        self.policy = policy
        self.cache = cache
        self.logger = logger
        self.clock = clock
        self.onChange = onChange
    }

    /// Loads `rawName` from `uri`, or joins a running load of the same source.
    public func load(name rawName: String, uri: String, pinned: Bool = false) async throws(AdapterError) -> LoadOutcome {
        try requireEnabled()
        let name = try Self.parseName(rawName)
        let source = try AdapterSource(uri: uri)
        try policy.check(source)
        if case .file = source {} else if cache == nil {
            throw AdapterError(.unavailable, "this worker has no adapter cache for \(source.scheme):// sources")
        }
        switch lifecycle.requestLoad(name: name, source: source, now: clock()) {
        case .alreadyLoaded(let record):
            return .alreadyLoaded(record)
        case .conflict(let existing):
            throw AdapterError(.conflict, "LoRA adapter '\(name)' is already loaded from \(existing); unload it before loading \(source)")
        case .idCollision(let other):
            throw AdapterError(.conflict, "LoRA adapter '\(name)' has the same lora_id \(name.loraID) as loaded adapter '\(other)'; rename one")
        case .join:
            return .loaded(try await result(of: inFlight[name], name: name))
        case .start:
            let loader = self.loader, policy = self.policy, cache = self.cache, install = self.install, now = clock()
            logger.info("loading adapter", metadata: ["adapter.name": "\(name)", "adapter.source": "\(source)"])
            // Downloads, file reads and hashing run on threads of their own, so other names proceed meanwhile.
            // A joined load gets the record only once the engine has it too.
            let task = Task { () async throws -> AdapterRecord in
                let record = try await Self.fetchAndLoad(name: name, source: source, loader: loader, policy: policy, cache: cache, now: now)
                do { try await install(record) } catch {
                    if let key = record.cacheKey { await cache?.release(key) }
                    throw error
                }
                return record
            }
            inFlight[name] = task
            defer { inFlight[name] = nil }
            do {
                var record = try await result(of: task, name: name)
                record.loadedAt = clock()
                record.pinned = pinned
                // The engine takes the weight bytes (onChange); the registry keeps the description.
                var described = record
                described.weightsData = Data()
                lifecycle.loadSucceeded(described)
                loadsPerformed += 1
                logger.info("adapter loaded", metadata: [
                    "adapter.name": "\(name)", "adapter.lora_id": "\(record.loraID)", "adapter.digest": "\(record.digest.hex)",
                    "adapter.rank": "\(record.validated.rank)", "adapter.modules": "\(record.validated.targetModules.joined(separator: ","))",
                ])
                onChange(.loaded, record)
                return .loaded(described)
            } catch {
                lifecycle.loadFailed(name: name)
                var metadata: Logger.Metadata = ["adapter.name": "\(name)", "adapter.source": "\(source)", "error": "\(error.message)"]
                if let cache, source.scheme != "file" { metadata["cache.path"] = "\(cache.layout.root.path)" }
                logger.warning("adapter load failed", metadata: metadata)
                throw error
            }
        }
    }

    /// Unloads `rawName`, after any running load of it has finished.
    public func unload(name rawName: String) async throws(AdapterError) -> AdapterRecord {
        try requireEnabled()
        let name = try Self.parseName(rawName)
        while true {
            switch lifecycle.requestUnload(name: name) {
            case .notFound:
                throw AdapterError(.notFound, "LoRA adapter '\(name)' is not loaded")
            case .waitForLoad:
                _ = try? await inFlight[name]?.value
                // Re-check: the lifecycle may have changed while this call waited.
                continue
            case .unloaded(let record):
                if let key = record.cacheKey { await cache?.release(key) }
                logger.info("adapter unloaded", metadata: ["adapter.name": "\(name)", "adapter.lora_id": "\(record.loraID)"])
                onChange(.unloaded, record)
                await uninstall(record)
                return record
            }
        }
    }

    public func loaded() -> [AdapterRecord] { lifecycle.loaded }

    /// Whether `name` is loaded (not merely loading).
    public func isLoaded(_ name: String) -> Bool {
        guard let name = try? AdapterName(name), case .loaded? = lifecycle.entries[name] else { return false }
        return true
    }

    /// The state of one name, for `GET /v1/loras/{name}`.
    public func state(of rawName: String) throws(AdapterError) -> AdapterLifecycle.State {
        try requireEnabled()
        let name = try Self.parseName(rawName)
        guard let state = lifecycle.entries[name] else { throw AdapterError(.notFound, "LoRA adapter '\(name)' is not loaded") }
        return state
    }

    /// Bytes done and expected of a running download for `rawName`.
    public func downloadProgress(of rawName: String) async -> DownloadProgress.Snapshot? {
        guard let name = try? AdapterName(rawName), case .loading(let source, _)? = lifecycle.entries[name] else { return nil }
        return await cache?.progress(of: source)
    }

    private static func fetchAndLoad(
        name: AdapterName, source: AdapterSource, loader: AdapterLoader, policy: SourcePolicy, cache: AdapterCache?, now: Double
    ) async throws(AdapterError) -> AdapterRecord {
        if case .file(let directory) = source {
            return try await BlockingThread.run("adapter-load") { () throws(AdapterError) -> AdapterRecord in
                try policy.checkLocal(directory: directory, source: source)
                return try loader.load(name: name, source: source, directory: directory, now: now)
            }
        }
        guard let cache else { throw AdapterError(.unavailable, "no adapter cache") }
        let entry = try await cache.fetch(source) { directory throws(AdapterError) in
            try loader.validate(directory: directory.path, source: source.description)
        }
        do {
            var record = try await BlockingThread.run("adapter-load") { () throws(AdapterError) -> AdapterRecord in
                try loader.load(name: name, source: source, directory: entry.directory.path, now: now)
            }
            record.cacheKey = entry.key
            return record
        } catch {
            await cache.release(entry.key)
            throw error
        }
    }

    private func requireEnabled() throws(AdapterError) {
        guard enabled else { throw AdapterError(.unavailable, "LoRA adapters are not enabled on this worker (start it with --enable-lora)") }
    }

    private static func parseName(_ raw: String) throws(AdapterError) -> AdapterName {
        do { return try AdapterName(raw) } catch { throw AdapterError(.badRequest, "\(error.description): '\(raw.prefix(80))'") }
    }

    private func result(of task: Task<AdapterRecord, any Error>?, name: AdapterName) async throws(AdapterError) -> AdapterRecord {
        guard let task else { throw AdapterError(.internalFailure, "load of '\(name)' vanished") }
        do { return try await task.value } catch let error as AdapterError { throw error } catch {
            throw AdapterError(.internalFailure, "load of '\(name)' failed: \(error)")
        }
    }
}
