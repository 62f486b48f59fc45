import Foundation

/// Which sources this worker accepts: `--allowed-sources`, `--allowed-local-dirs` and
/// `--max-adapter-bytes`.
public struct SourcePolicy: Sendable {
    public var allowedSchemes: Set<String>
    /// Real paths (symlinks resolved) under which file:// adapters must lie; empty: anywhere.
    public var allowedLocalDirectories: [String]
    public var maxAdapterBytes: Int64

    public init(allowedSchemes: Set<String> = Set(AdapterSource.schemes), allowedLocalDirectories: [String] = [], maxAdapterBytes: Int64 = 2 << 30) {
        self.allowedSchemes = allowedSchemes
        self.allowedLocalDirectories = allowedLocalDirectories.map { Self.realPath($0) ?? ($0 as NSString).standardizingPath }
        self.maxAdapterBytes = maxAdapterBytes
    }

    /// Refuses a scheme this worker does not allow (before anything is read or downloaded).
    public func check(_ source: AdapterSource) throws(AdapterError) {
        guard allowedSchemes.contains(source.scheme) else {
            throw AdapterError(.forbidden, "\(source.scheme):// sources are not allowed on this worker (--allowed-sources \(allowedSchemes.sorted().joined(separator: ",")))")
        }
    }

    /// Checks a file:// folder: inside the allowed folders once symlinks are resolved (the folder
    /// and each adapter file), its files regular files (a FIFO would block a load forever and
    /// `/dev/zero` never end), and not larger than the limit. Blocking file I/O.
    public func checkLocal(directory: String, source: AdapterSource) throws(AdapterError) {
        let files = [AdapterLoader.configFile, AdapterLoader.weightsFile].map { (directory as NSString).appendingPathComponent($0) }
        for path in files {
            var info = stat()
            // Missing files are reported by the loader; stat follows symlinks to what they name.
            guard stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG else { continue }
            let kind = switch info.st_mode & S_IFMT {
            case S_IFDIR: "a folder"
            case S_IFIFO: "a FIFO"
            case S_IFCHR, S_IFBLK: "a device"
            case S_IFSOCK: "a socket"
            default: "not a regular file"
            }
            throw AdapterError(.invalidAdapter, "\(source): \((path as NSString).lastPathComponent) is \(kind), not a regular file")
        }
        if !allowedLocalDirectories.isEmpty {
            for path in [directory] + files {
                guard let real = Self.realPath(path) else { continue }  // missing files are reported by the loader
                guard allowedLocalDirectories.contains(where: { real == $0 || real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
                    throw AdapterError(.forbidden, "\(source): \(path == directory ? "the folder" : (path as NSString).lastPathComponent) resolves to \(real), outside --allowed-local-dirs \(allowedLocalDirectories.joined(separator: ","))")
                }
            }
        }
        let bytes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? NSNumber }.reduce(Int64(0)) { $0 + $1.int64Value }
        guard bytes <= maxAdapterBytes else {
            throw AdapterError(.tooLarge, "\(source) holds \(bytes) bytes, more than --max-adapter-bytes \(maxAdapterBytes)")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
