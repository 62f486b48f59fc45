import Foundation

/// A real child process with its output in a log file; stopped (SIGTERM, then SIGKILL) by
/// ``stop()``, which tests call in every exit path.
public final class ManagedProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is only started in init and then queried through
    // Foundation's thread-safe accessors; `logURL` and `name` are immutable.
    public let name: String
    public let logURL: URL
    private let process: Process

    public init(name: String, executable: URL, arguments: [String], environment: [String: String] = [:], logDirectory: URL) throws {
        self.name = name
        logURL = logDirectory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// A process nobody stopped is stopped when the last reference goes (a test that failed
    /// half-way leaves nothing running).
    deinit { stop(grace: .milliseconds(500)) }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var exitCode: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// The process's output so far.
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Kills at once with SIGKILL, as a crash or `kill -9` would.
    public func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGSTOP: the process freezes, as on a host that stalls; ``resume()`` thaws it.
    public func pause() {
        if process.isRunning { kill(process.processIdentifier, SIGSTOP) }
    }

    /// SIGCONT after ``pause()``.
    public func resume() {
        if process.isRunning { kill(process.processIdentifier, SIGCONT) }
    }

    /// SIGTERM, then SIGKILL after `grace` if it is still running.
    public func stop(grace: Duration = .seconds(3)) {
        guard process.isRunning else { return }
        // A paused process would not handle SIGTERM before the grace period ends.
        kill(process.processIdentifier, SIGCONT)
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits until a line of the log contains `text`.
    public func waitForLog(_ text: String, timeout: Duration = .seconds(10)) async -> Bool {
        await eventually(timeout: timeout) { log.contains(text) }
    }
}
