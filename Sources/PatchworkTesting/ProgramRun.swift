import Foundation

/// What a program printed (stdout and stderr together) and its exit status.
public struct ProgramRun: Sendable {
    public var output: String
    public var status: Int32

    /// Runs `executable` to its end on a thread of its own, for at most `timeout`: a program
    /// still running then is killed and the run throws with what it printed, so that no test
    /// waits forever on a child.
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(300)) async throws -> ProgramRun {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runBlocking(executable, arguments, timeout: timeout) })
            }.start()
        }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], timeout: Duration) throws -> ProgramRun {
        // A file, not a pipe: a chatty child can never block on a full pipe nobody reads yet.
        let log = try TestPaths.temporaryDirectory("program").appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log.deletingLastPathComponent())
        if timedOut { throw TestFailure("\((executable as NSString).lastPathComponent) ran longer than \(timeout) and was killed; its output:\n\(output)") }
        return ProgramRun(output: output, status: process.terminationStatus)
    }
}
