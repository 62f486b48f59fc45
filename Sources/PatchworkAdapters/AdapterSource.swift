import Foundation

/// Where an adapter's files come from, parsed from the `source.uri` of a load request.
public enum AdapterSource: Sendable, Hashable, CustomStringConvertible {
    /// A local directory, used in place.
    case file(directory: String)
    /// Objects under a prefix of an S3-compatible bucket, downloaded into the cache.
    case s3(S3Location)
    /// A model repository on the Hugging Face Hub (or a server speaking its protocol).
    case hf(HubLocation)

    public static let schemes = ["file", "s3", "hf"]

    /// Parses a URI: `file:///abs/path`, `s3://bucket/prefix` or `hf://org/repo[/subfolder][@revision]`.
    /// - Throws: ``AdapterError`` (400) naming the URI and what is wrong with it.
    public init(uri: String) throws(AdapterError) {
        guard let schemeEnd = uri.range(of: "://") else {
            throw AdapterError(.badRequest, "source URI '\(uri)' has no scheme (expected file:///path, s3://bucket/prefix or hf://org/repo)")
        }
        let scheme = uri[..<schemeEnd.lowerBound].lowercased()
        let rest = String(uri[schemeEnd.upperBound...])
        switch scheme {
        case "file":
            // file:///abs/path (empty authority) or file://localhost/abs/path.
            let path = rest.utf8.starts(with: "localhost/".utf8) ? String(rest.dropFirst("localhost".count)) : rest
            // By bytes: a `/` followed by a combining mark or an emoji modifier is one Character
            // that does not start with "/", yet the path is absolute.
            guard path.utf8.first == UInt8(ascii: "/") else {
                throw AdapterError(.badRequest, "source URI '\(uri)' must name an absolute path (file:///path/to/adapter)")
            }
            guard let decoded = path.removingPercentEncoding, !decoded.contains("\0") else {
                throw AdapterError(.badRequest, "source URI '\(uri)' has invalid percent-encoding")
            }
            self = .file(directory: (decoded as NSString).standardizingPath)
        case "s3":
            self = .s3(try S3Location(uri: uri, rest: rest))
        case "hf":
            self = .hf(try HubLocation(uri: uri, rest: rest))
        default:
            throw AdapterError(.badRequest, "source URI '\(uri)' has unsupported scheme '\(scheme)' (supported: \(Self.schemes.joined(separator: ", ")))")
        }
    }

    /// `file`, `s3` or `hf`.
    public var scheme: String {
        switch self {
        case .file: return "file"
        case .s3: return "s3"
        case .hf: return "hf"
        }
    }

    public var description: String {
        switch self {
        case .file(let directory): return "file://\(directory)"
        case .s3(let location): return location.description
        case .hf(let location): return location.description
        }
    }
}

/// `s3://bucket/prefix`: every object under `prefix/` is one file of the adapter.
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    public var bucket: String
    /// Without leading or trailing slashes; empty for the whole bucket.
    public var prefix: String

    init(uri: String, rest: String) throws(AdapterError) {
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        bucket = String(parts[0])
        prefix = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "/")) : ""
        // S3's bucket naming rules (3-63 of a-z 0-9 . -, starting and ending with a letter or digit).
        let allowed = bucket.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
        guard (3...63).contains(bucket.count), allowed, bucket.first != "-", bucket.first != ".", bucket.last != "-", bucket.last != "." else {
            throw AdapterError(.badRequest, "source URI '\(uri)' has an invalid bucket name '\(bucket)' (3-63 characters of a-z, 0-9, '.', '-')")
        }
        guard !prefix.split(separator: "/").contains(where: { $0 == ".." }) else {
            throw AdapterError(.badRequest, "source URI '\(uri)' has a '..' segment")
        }
    }

    /// The prefix as listed: with a trailing slash, so `a/b` never matches `a/bc/...`.
    public var listingPrefix: String { prefix.isEmpty ? "" : prefix + "/" }

    /// A listed key's path below the prefix. S3 compares keys as bytes, so the prefix is cut in
    /// UTF-8 bytes (counting characters would swallow a combining mark that follows the slash).
    public func relativePath(of key: String) -> String {
        String(decoding: key.utf8.dropFirst(listingPrefix.utf8.count), as: UTF8.self)
    }

    public var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }
}

/// `hf://org/repo[/subfolder][@revision]`: a model repository on the Hub at a branch, tag or
/// commit, the adapter at its root or in a subfolder (repositories that hold several adapters).
public struct HubLocation: Sendable, Hashable, CustomStringConvertible {
    /// `org/name` (or `name`, for repositories without an owner; those take no subfolder).
    public var repository: String
    /// The folder inside the repository holding the adapter's files; empty for the root.
    public var subfolder: String
    /// A branch, tag or commit; `main` when the URI names none.
    public var revision: String

    init(uri: String, rest: String) throws(AdapterError) {
        let parts = rest.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        revision = parts.count > 1 ? String(parts[1]) : "main"
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        // org/name, then the subfolder.
        repository = segments.prefix(2).joined(separator: "/")
        subfolder = segments.dropFirst(2).joined(separator: "/")
        let validSegment: (Substring) -> Bool = { segment in
            !segment.isEmpty && segment != "." && segment != ".." && segment.count <= 96
                && segment.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
        }
        guard !segments.isEmpty, segments.allSatisfy(validSegment) else {
            throw AdapterError(.badRequest, "source URI '\(uri)' must name a Hub repository as hf://org/name[/subfolder][@revision]")
        }
        guard !revision.isEmpty, !revision.contains(".."), revision.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 }) else {
            throw AdapterError(.badRequest, "source URI '\(uri)' has an invalid revision '\(revision)'")
        }
    }

    /// A full commit hash: resolving it again can never give other files.
    public var isPinned: Bool {
        revision.count == 40 && revision.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// The path of one of the adapter's files in the repository.
    public func path(of file: String) -> String { subfolder.isEmpty ? file : "\(subfolder)/\(file)" }

    public var description: String {
        let path = subfolder.isEmpty ? repository : "\(repository)/\(subfolder)"
        return revision == "main" ? "hf://\(path)" : "hf://\(path)@\(revision)"
    }
}
