import Foundation

/// Real Patchwork processes on free loopback ports for one test; ``withCluster(_:)`` stops them
/// all at the end, also when the test fails, and prints their logs on failure.
public final class Cluster: @unchecked Sendable {
    // @unchecked Sendable: the mutable lists are guarded by `lock`; tests drive a cluster
    // from one task at a time, the lock covers stray concurrent use.
    public struct Router: Sendable {
        public let process: ManagedProcess
        public let controlPort: Int
        public let eventsPort: Int
        public let systemPort: Int
        public var endpoint: String { "tcp://127.0.0.1:\(controlPort)" }
    }

    public struct Worker: Sendable {
        public let process: ManagedProcess
        public let systemPort: Int
        public let id: String
    }

    public struct Frontend: Sendable {
        public let process: ManagedProcess
        public let httpPort: Int
    }

    public let logDirectory: URL
    private let lock = NSLock()
    private var processes: [ManagedProcess] = []
    private var counter = 0

    public init() throws {
        logDirectory = try TestPaths.temporaryDirectory("cluster")
    }

    private func track(_ process: ManagedProcess) {
        lock.withLock { processes.append(process) }
    }

    private func nextName(_ role: String) -> String {
        lock.withLock {
            counter += 1
            return "\(role)-\(counter)"
        }
    }

    private func launch(_ executable: String, name: String, arguments: [String], environment: [String: String]) throws -> ManagedProcess {
        let process = try ManagedProcess(
            name: name, executable: TestPaths.binaries.appendingPathComponent(executable), arguments: arguments,
            environment: environment, logDirectory: logDirectory
        )
        track(process)
        return process
    }

    /// Starts a router and waits until its HTTP server answers.
    public func startRouter(arguments: [String] = [], controlPort: Int? = nil) async throws -> Router {
        let control = try controlPort ?? freePort(), events = try freePort(), system = try freePort()
        let process = try launch("patchwork-router", name: nextName("router"), arguments: [
            "--listen", "tcp://127.0.0.1:\(control)", "--events-listen", "tcp://127.0.0.1:\(events)",
            "--system-host", "127.0.0.1", "--system-port", "\(system)",
        ] + arguments, environment: [:])
        try await waitForHTTP(port: system, process: process)
        return Router(process: process, controlPort: control, eventsPort: events, systemPort: system)
    }

    /// Starts a worker (on the bundled model unless `model` names another) and waits until it
    /// has registered with its routers.
    public func startWorker(
        routers: [Router], model: URL = TestPaths.model, enableLoRA: Bool = true, servedModelName: String = "SmolLM2-135M-Instruct",
        arguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> Worker {
        let system = try freePort()
        let name = nextName("worker")
        var args = routers.flatMap { ["--router", $0.endpoint] } + [
            "--model", model.path, "--served-model-name", servedModelName, "--worker-id", name,
            "--system-host", "127.0.0.1", "--system-port", "\(system)", "--heartbeat-interval", "0.5",
            "--listen", "tcp://127.0.0.1:0", "--kv-cache-bytes", "\(64 << 20)",
        ]
        if enableLoRA { args.append("--enable-lora") }
        // Each worker downloads into a cache of its own unless the test shares one.
        let cacheEnvironment = ["PATCHWORK_LORA_PATH": logDirectory.appendingPathComponent("loras-\(name)").path]
        let process = try launch(
            "patchwork-worker", name: name, arguments: args + arguments, environment: cacheEnvironment.merging(environment) { $1 }
        )
        try await waitForHTTP(port: system, process: process)
        guard await process.waitForLog("registered with router", timeout: .seconds(30)) else { throw TestFailure("\(name) did not register:\n\(process.log)") }
        return Worker(process: process, systemPort: system, id: name)
    }

    /// Starts a frontend and waits until it holds a cluster view.
    public func startFrontend(routers: [Router], arguments: [String] = []) async throws -> Frontend {
        let http = try freePort()
        let process = try launch("patchwork-frontend", name: nextName("frontend"), arguments: routers.flatMap { ["--router", $0.endpoint] } + [
            "--http-host", "127.0.0.1", "--http-port", "\(http)",
        ] + arguments, environment: [:])
        try await waitForHTTP(port: http, process: process)
        guard await process.waitForLog("cluster view received", timeout: .seconds(30)) else { throw TestFailure("frontend got no cluster view:\n\(process.log)") }
        return Frontend(process: process, httpPort: http)
    }

    private func waitForHTTP(port: Int, process: ManagedProcess) async throws {
        // Generous for a loaded host; a process that exits is reported at once.
        let up = await eventually(timeout: .seconds(60)) {
            if !process.isRunning { return true }
            return (try? await HTTPClient.get(port: port, path: "/health")) != nil
        }
        guard up, process.isRunning else {
            throw TestFailure("\(process.name) did not start (exit \(process.exitCode.map(String.init) ?? "-")):\n\(process.log)")
        }
    }

    /// Stops every process of the cluster.
    public func stopAll() {
        for process in lock.withLock({ processes }) { process.stop() }
    }

    /// The logs of every process, for a failure report.
    public var logs: String {
        lock.withLock { processes }.map { "----- \($0.name) -----\n\($0.log)" }.joined(separator: "\n")
    }
}

/// Runs `body` with a fresh ``Cluster`` and stops all its processes afterwards, whatever happens.
/// On failure the processes' logs are printed.
public func withCluster<T>(_ body: (Cluster) async throws -> T) async throws -> T {
    let cluster = try Cluster()
    do {
        let result = try await body(cluster)
        cluster.stopAll()
        try? FileManager.default.removeItem(at: cluster.logDirectory)
        return result
    } catch {
        cluster.stopAll()
        print("cluster logs (kept in \(cluster.logDirectory.path)):\n\(cluster.logs)")
        throw error
    }
}
