import ArgumentParser
import Logging
import PatchworkCore

/// `--admin-token-file` and `--system-host`, which workers and routers take: who may use the
/// management routes of the system HTTP server, and where it listens.
///
/// Safe by default: without a token the server listens on loopback only, so nobody on the
/// network can load adapters or read the cluster; binding it elsewhere without a token must be
/// asked for (`--system-host`) and is warned about.
public struct ManagementOptions: ParsableArguments {
    @Option(help: "File holding the admin token (surrounding whitespace ignored) that every route but /health and /metrics asks for as 'Authorization: Bearer TOKEN'.")
    public var adminTokenFile: String?

    @Option(help: "Address of the system HTTP server (management, /health, /metrics). Default: 0.0.0.0 with --admin-token-file, else 127.0.0.1.")
    public var systemHost: String?

    public static let environment: [EnvironmentOption] = [
        .init("admin-token-file", "PATCHWORK_ADMIN_TOKEN_FILE"),
        .init("system-host", "PATCHWORK_SYSTEM_HOST"),
    ]

    public init() {}

    /// The token, read when the process starts (a missing or empty file stops it, saying why).
    public func adminToken() throws -> AdminToken? {
        guard let adminTokenFile else { return nil }
        do { return try AdminToken(file: adminTokenFile) } catch { throw ValidationError("--admin-token-file: \(error)") }
    }

    /// Where the system HTTP server listens.
    public var resolvedSystemHost: String { systemHost ?? (adminTokenFile != nil ? "0.0.0.0" : "127.0.0.1") }

    /// Says at start-up how the management routes are protected.
    public func logPolicy(_ logger: Logger) {
        let host = resolvedSystemHost
        if adminTokenFile != nil {
            logger.info("management routes ask for the admin token", metadata: ["system.host": "\(host)"])
        } else if Endpoint(host: host, port: 0).isLoopback {
            logger.notice("no --admin-token-file: management routes listen on loopback only", metadata: ["system.host": "\(host)"])
        } else {
            logger.warning("no --admin-token-file: management routes are open to anyone who reaches \(host)", metadata: ["system.host": "\(host)"])
        }
    }
}
