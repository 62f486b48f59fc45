/// A ZeroMQ TCP endpoint, `tcp://host:port`. Port 0 asks the system for a free port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `tcp://host:port` (IPv6 hosts in brackets).
    public init(parsing text: String) throws(ConfigurationError) {
        guard text.hasPrefix("tcp://") else { throw .invalid("endpoint '\(text)' must start with tcp://") }
        let rest = text.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (0...65535).contains(port)
        else { throw .invalid("endpoint '\(text)' needs a port from 0 to 65535 (tcp://host:port)") }
        let host = String(rest[..<colon])
        guard !host.isEmpty else { throw .invalid("endpoint '\(text)' has no host") }
        self.init(host: host, port: port)
    }

    public var description: String { "tcp://\(host):\(port)" }

    /// The string ZeroMQ binds: port 0 becomes `*`, which makes ZeroMQ pick a free port.
    public var bindString: String { port == 0 ? "tcp://\(host):*" : description }

    /// Whether the host is a wildcard, which other hosts cannot connect to.
    public var isWildcard: Bool { host == "0.0.0.0" || host == "*" || host == "[::]" || host == "::" }
    /// Reachable from this host only.
    public var isLoopback: Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]" }
}

/// A flag or environment variable has a value that cannot work.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let message): return message }
    }
}
