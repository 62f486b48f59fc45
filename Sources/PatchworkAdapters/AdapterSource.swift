import Foundation

/// Where an adapter's files come from, parsed from the `source.uri` of a load request.
public enum AdapterSource: Sendable, Equatable, CustomStringConvertible {
    /// A local directory, used in place.
    case file(directory: String)

    /// Parses a URI. Only `file://` with an absolute path is served by this build.
    /// - Throws: ``AdapterError`` (400) naming the URI and what is wrong with it.
    public init(uri: String) throws(AdapterError) {
        guard let schemeEnd = uri.range(of: "://") else {
            throw AdapterError(.badRequest, "source URI '\(uri)' has no scheme (expected file:///absolute/path)")
        }
        let scheme = uri[..<schemeEnd.lowerBound].lowercased()
        let rest = String(uri[schemeEnd.upperBound...])
        switch scheme {
        case "file":
            // file:///abs/path (empty authority) or file://localhost/abs/path.
            let path = rest.hasPrefix("localhost/") ? String(rest.dropFirst("localhost".count)) : rest
            guard path.hasPrefix("/") else {
                throw AdapterError(.badRequest, "source URI '\(uri)' must name an absolute path (file:///path/to/adapter)")
            }
            guard let decoded = path.removingPercentEncoding, !decoded.contains("\0") else {
                throw AdapterError(.badRequest, "source URI '\(uri)' has invalid percent-encoding")
            }
            self = .file(directory: (decoded as NSString).standardizingPath)
        default:
            throw AdapterError(.badRequest, "source URI '\(uri)' has unsupported scheme '\(scheme)'; this worker loads file:// sources")
        }
    }

    public var description: String {
        switch self {
        case .file(let directory): return "file://\(directory)"
        }
    }
}
