import ArgumentParser
import Logging
import PatchworkCore

/// `--log-level`, which every process takes.
public struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    public var logLevel: Logger.Level = .info

    public static let environment: [EnvironmentOption] = [.init("log-level", "PATCHWORK_LOG_LEVEL")]

    public init() {}
}

/// `--router`, repeatable: the routers a worker reports to or a frontend asks.
public struct RouterAddressOptions: ParsableArguments {
    @Option(name: .customLong("router"), help: "A router's ZeroMQ endpoint (tcp://HOST:PORT); repeat for several routers.")
    public var routers: [String] = []

    public static let environment: [EnvironmentOption] = [.init("router", "PATCHWORK_ROUTER", .list)]

    public init() {}

    public func validate() throws {
        guard !routers.isEmpty else { throw ValidationError("give at least one --router tcp://HOST:PORT (or PATCHWORK_ROUTER)") }
        for router in routers {
            do { _ = try Endpoint(parsing: router) } catch { throw ValidationError("--router: \(error.description)") }
        }
    }

    /// The routers, parsed (``validate()`` checked them).
    public var endpoints: [Endpoint] { routers.compactMap { try? Endpoint(parsing: $0) } }
}
