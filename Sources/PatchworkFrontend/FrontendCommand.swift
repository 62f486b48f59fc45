import ArgumentParser
import Foundation
import Logging
import PatchworkCore
import PatchworkRuntime

/// `patchwork-frontend`: the OpenAI-compatible HTTP surface.
public struct FrontendCommand: EnvironmentConfigurable {
    public static let configuration = CommandConfiguration(
        commandName: "patchwork-frontend",
        abstract: "Serves the OpenAI-compatible API and forwards requests through the routers.",
        discussion: EnvironmentOption.help(environment)
    )

    @OptionGroup var routerAddresses: RouterAddressOptions

    @Option(help: "Address of the HTTP server.")
    var httpHost = "0.0.0.0"

    @Option(help: "Port of the HTTP server; 0 picks a free one.")
    var httpPort = 8000

    @Option(help: "Seconds without a cluster view after which a router counts as unreachable.")
    var routerTimeout = 3.0

    @Option(help: "Largest request body accepted, in bytes; larger ones get 413.")
    var maxRequestBytes = 4 << 20

    @Option(help: "Times a request moves to another worker when its worker dies before it streamed anything.")
    var maxRetries = 2

    @Option(help: "This frontend's id in router logs. Default: host name and a random suffix.")
    var frontendID: String?

    @Option(help: "API keys, tenants and limits (JSON; reloaded on SIGHUP and when the file changes). Without it the API is open to anyone who reaches it.")
    var apiKeys: String?

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public static let environment: [EnvironmentOption] = RouterAddressOptions.environment + LoggingOptions.environment + [
        .init("http-host", "PATCHWORK_HTTP_HOST"),
        .init("http-port", "PATCHWORK_HTTP_PORT"),
        .init("router-timeout", "PATCHWORK_ROUTER_TIMEOUT"),
        .init("max-request-bytes", "PATCHWORK_MAX_REQUEST_BYTES"),
        .init("max-retries", "PATCHWORK_MAX_RETRIES"),
        .init("frontend-id", "PATCHWORK_FRONTEND_ID"),
        .init("api-keys", "PATCHWORK_API_KEYS"),
    ]


    public func validate() throws {
        guard routerTimeout > 0 else { throw ValidationError("--router-timeout must be positive") }
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be 0...65535") }
    }

    public func run() async throws {
        let (registry, logger) = ProcessBootstrap.start(label: "patchwork-frontend", logLevel: logging.logLevel)
        let id = frontendID ?? defaultProcessID(role: "frontend")
        let store = ClusterViewStore(routerCount: routerAddresses.routers.count, timeout: routerTimeout)
        let client = ClusterViewClient(frontendID: id, routers: routerAddresses.endpoints, store: store, logger: logger)
        let connections = WorkerConnections(logger: logger)
        let access: AccessControl?
        if let apiKeys {
            do { access = try AccessControl(path: apiKeys, logger: logger) } catch { throw ValidationError("--api-keys: \(error)") }
        } else {
            access = nil
            logger.warning("no --api-keys: the API serves anyone who can reach it, every model and adapter")
        }
        let router = FrontendRoutes(
            store: store, routers: client, connections: connections, access: access, maxBodyBytes: maxRequestBytes, maxRetries: maxRetries, logger: logger
        ).makeRouter(registry: registry)
        try await ProcessRunner.run(router: router, host: httpHost, port: httpPort, services: [client, connections] + (access.map { [$0] } ?? []), logger: logger)
    }
}
