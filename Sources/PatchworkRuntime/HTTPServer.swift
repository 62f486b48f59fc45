import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Runs a process: its HTTP server and its other services in one `ServiceGroup`, stopped
/// gracefully on SIGTERM or SIGINT.
public enum ProcessRunner {
    /// - Parameters:
    ///   - port: 0 picks a free port; `onListening` gets the port actually bound.
    public static func run(
        router: Router<BasicRequestContext>, host: String, port: Int, services: [any Service], logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            services: services,
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("http server listening", metadata: ["http.host": "\(host)", "http.port": "\(bound)"])
                await onListening(bound)
            },
            logger: logger
        )
        try await app.runService()
    }
}
