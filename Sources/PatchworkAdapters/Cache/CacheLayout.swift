import Foundation

/// The on-disk layout of the adapter cache (`PATCHWORK_LORA_PATH`):
///
///     <root>/s3-<hash of endpoint and URI>-<hash of the listing>/   one complete entry
///     <root>/hf-<hash of endpoint and repository>-<commit>/         one complete entry
///     <root>/.partial-<key>-<pid>-<random>/                          a download in progress
///
/// An entry is complete when its folder exists under its key and holds `patchwork-entry.json`,
/// which is written before the folder is renamed into place. A rename is atomic, so a crash
/// leaves only `.partial-*` folders, which start-up removes (those of processes still alive are
/// left alone: several workers may share one cache).
public struct CacheLayout: Sendable {
    public static let manifestName = "patchwork-entry.json"
    static let partialPrefix = ".partial-"

    public let root: URL

    public init(root: URL) { self.root = root }

    /// `PATCHWORK_LORA_PATH`, else `~/.cache/patchwork/loras`.
    public static func defaultRoot(environment: [String: String]) -> URL {
        if let path = environment["PATCHWORK_LORA_PATH"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/patchwork/loras")
    }

    public func directory(key: String) -> URL { root.appendingPathComponent(key, isDirectory: true) }

    /// The manifest of a complete entry, or nil.
    public func manifest(key: String) -> CacheManifest? {
        guard let data = FileManager.default.contents(atPath: directory(key: key).appendingPathComponent(Self.manifestName).path) else { return nil }
        return try? JSONDecoder().decode(CacheManifest.self, from: data)
    }

    /// Keys of every complete entry.
    public func entryKeys() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && manifest(key: $0) != nil }.sorted()
    }

    /// A fresh folder for a download of `key`.
    func makePartial(key: String) throws(AdapterError) -> URL {
        let url = root.appendingPathComponent("\(Self.partialPrefix)\(key)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))", isDirectory: true)
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw AdapterError(.internalFailure, "cannot create \(url.path) in the adapter cache: \(error.localizedDescription)")
        }
        return url
    }

    /// Writes the manifest into `partial` and renames it to the entry of `key`. When another
    /// process installed the same entry first, its copy is kept and this one removed.
    func commit(partial: URL, key: String, manifest: CacheManifest) throws(AdapterError) {
        do {
            let data = try JSONEncoder().encode(manifest)
            try data.write(to: partial.appendingPathComponent(Self.manifestName))
        } catch {
            throw AdapterError(.internalFailure, "cannot write the cache manifest in \(partial.path): \(error.localizedDescription)")
        }
        let target = directory(key: key)
        if rename(partial.path, target.path) != 0 {
            let reason = errno
            try? FileManager.default.removeItem(at: partial)
            guard (reason == ENOTEMPTY || reason == EEXIST), self.manifest(key: key) != nil else {
                throw AdapterError(.internalFailure, "cannot install \(target.path): \(String(cString: strerror(reason)))")
            }
        }
    }

    /// Records a use of `key` (the LRU order survives restarts).
    func touch(key: String, at time: Double) {
        guard var manifest = manifest(key: key) else { return }
        manifest.lastUsed = time
        let url = directory(key: key).appendingPathComponent(Self.manifestName)
        // Written beside and renamed, so the manifest is never seen half-written.
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(Self.manifestName).\(getpid())")
        guard let data = try? JSONEncoder().encode(manifest), (try? data.write(to: temporary)) != nil else { return }
        _ = rename(temporary.path, url.path)
    }

    /// Removes the `.partial-*` folders of processes that are gone; returns how many.
    func removeLeftovers() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var removed = 0
        for name in names where name.hasPrefix(Self.partialPrefix) {
            let fields = name.split(separator: "-")
            if fields.count >= 2, let pid = Int32(fields[fields.count - 2]), pid != getpid(), kill(pid, 0) == 0 { continue }
            if (try? FileManager.default.removeItem(at: root.appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
    }

    /// Removes a complete entry (the manifest first, so a crash never leaves it looking complete).
    func remove(key: String) {
        let directory = directory(key: key)
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(Self.manifestName))
        try? FileManager.default.removeItem(at: directory)
    }
}

/// What a cache entry holds, written last when it is installed.
public struct CacheManifest: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        /// The S3 ETag, when the file came from S3.
        public var etag: String?
    }

    public var uri: String
    public var endpoint: String
    /// The Hub commit, for hf:// entries.
    public var commit: String?
    public var files: [File]
    public var bytes: Int64
    public var createdAt: Double
    public var lastUsed: Double
}
