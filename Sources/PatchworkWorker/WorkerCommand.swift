import ArgumentParser
import Foundation
import Logging
import PatchworkAdapters
import PatchworkCore
import PatchworkRuntime

/// `patchwork-worker`: serves a base model and its LoRA adapters, and reports to routers.
public struct WorkerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "patchwork-worker",
        abstract: "Serves a base model and LoRA adapters, and reports to one or more routers.",
        subcommands: [ServeCommand.self, GenerateCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    public init() {}

    /// Parses the command line, with `PATCHWORK_*` variables as fallbacks for `serve`, and runs.
    public static func mainWithEnvironment() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        let subcommands = configuration.subcommands.map { $0._commandName }
        if arguments.first.map({ !subcommands.contains($0) || $0 == ServeCommand._commandName }) ?? true {
            arguments = EnvironmentOption.apply(ServeCommand.environment, to: arguments, environment: ProcessInfo.processInfo.environment)
        }
        await main(arguments)
    }
}

/// `patchwork-worker serve` (the default): the long-running worker process.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the worker (the default subcommand).")

    @Option(name: .customLong("router"), help: "A router's ZeroMQ endpoint; repeat for several routers (env PATCHWORK_ROUTER, comma-separated).")
    var routers: [String] = []

    @Option(help: "The base model: a GGUF file or a Hugging Face directory (env PATCHWORK_MODEL).")
    var model: String

    @Option(help: "The name clients use for the base model (env PATCHWORK_SERVED_MODEL_NAME). Default: the model's own name.")
    var servedModelName: String?

    @Option(help: "ZeroMQ endpoint for serving requests (tokenizer and chat template now, inference with the batching engine) (env PATCHWORK_WORKER_LISTEN).")
    var listen = "tcp://0.0.0.0:7100"

    @Option(help: "Address of the HTTP server for /v1/loras, /health and /metrics (env PATCHWORK_SYSTEM_HOST).")
    var systemHost = "0.0.0.0"

    @Option(help: "Port of that HTTP server; 0 picks a free one (env PATCHWORK_SYSTEM_PORT).")
    var systemPort = 8081

    @Option(help: "Host name or address routers and frontends use to reach this worker (env PATCHWORK_ADVERTISE_HOST). Default: the system host, or this machine's host name when that is a wildcard.")
    var advertiseHost: String?

    @Flag(help: "Serve LoRA adapters (env PATCHWORK_ENABLE_LORA=1).")
    var enableLora = false

    @Option(help: "Highest adapter rank accepted (env PATCHWORK_MAX_LORA_RANK).")
    var maxLoraRank = 64

    @Option(help: "Adapters resident for compute at once (env PATCHWORK_MAX_LORAS).")
    var maxLoras = 8

    @Option(help: "Adapters kept in host memory beyond the resident ones; more go to disk (env PATCHWORK_MAX_CPU_LORAS).")
    var maxCpuLoras = 32

    @Option(help: "Folder of the adapter download cache (env PATCHWORK_LORA_PATH). Default: ~/.cache/patchwork/loras.")
    var loraPath: String?

    @Option(help: "Bytes the adapter cache may hold; unused entries beyond it are evicted, least recently used first (env PATCHWORK_LORA_CACHE_MAX_BYTES).")
    var loraCacheMaxBytes: Int64 = 20 << 30

    @Option(help: "Largest adapter accepted, in bytes (env PATCHWORK_MAX_ADAPTER_BYTES).")
    var maxAdapterBytes: Int64 = 2 << 30

    @Option(help: "Adapter source schemes accepted, comma-separated (env PATCHWORK_ALLOWED_SOURCES).")
    var allowedSources = "file,s3,hf"

    @Option(help: "Folders file:// adapters must lie in, comma-separated; empty: anywhere (env PATCHWORK_ALLOWED_LOCAL_DIRS).")
    var allowedLocalDirs = ""

    @Option(help: "Seconds one adapter download may take, retries included (env PATCHWORK_ADAPTER_DOWNLOAD_TIMEOUT).")
    var adapterDownloadTimeout = 600.0

    @Option(help: "Keys per S3 listing page (S3's maximum is 1000) (env PATCHWORK_S3_LIST_PAGE_SIZE).")
    var s3ListPageSize = 1000

    @Option(help: "Tokens per KV-cache block (env PATCHWORK_BLOCK_SIZE).")
    var blockSize = KVBlock.defaultSize

    @Option(help: "Bytes of memory for the KV cache (env PATCHWORK_KV_CACHE_BYTES).")
    var kvCacheBytes = 512 << 20

    @Option(help: "KV-cache blocks; overrides --kv-cache-bytes (env PATCHWORK_NUM_KV_BLOCKS).")
    var numKvBlocks: Int?

    @Option(help: "Tokens one engine step computes at most, over all sequences (env PATCHWORK_MAX_NUM_BATCHED_TOKENS).")
    var maxNumBatchedTokens = 512

    @Option(help: "Sequences running at once at most (env PATCHWORK_MAX_NUM_SEQS).")
    var maxNumSeqs = 64

    @Option(help: "Compute threads for matrix products (env PATCHWORK_THREADS). Default: every core.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Seconds between heartbeats to the routers (env PATCHWORK_HEARTBEAT_INTERVAL).")
    var heartbeatInterval = 1.0

    @Option(help: "This worker's id in the cluster (env PATCHWORK_WORKER_ID). Default: host name and a random suffix.")
    var workerID: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env PATCHWORK_LOG_LEVEL).")
    var logLevel: Logger.Level = .info

    static let environment: [EnvironmentOption] = [
        .init("router", "PATCHWORK_ROUTER", .list),
        .init("model", "PATCHWORK_MODEL"),
        .init("served-model-name", "PATCHWORK_SERVED_MODEL_NAME"),
        .init("listen", "PATCHWORK_WORKER_LISTEN"),
        .init("system-host", "PATCHWORK_SYSTEM_HOST"),
        .init("system-port", "PATCHWORK_SYSTEM_PORT"),
        .init("advertise-host", "PATCHWORK_ADVERTISE_HOST"),
        .init("enable-lora", "PATCHWORK_ENABLE_LORA", .flag),
        .init("max-lora-rank", "PATCHWORK_MAX_LORA_RANK"),
        .init("max-loras", "PATCHWORK_MAX_LORAS"),
        .init("max-cpu-loras", "PATCHWORK_MAX_CPU_LORAS"),
        .init("lora-path", "PATCHWORK_LORA_PATH"),
        .init("lora-cache-max-bytes", "PATCHWORK_LORA_CACHE_MAX_BYTES"),
        .init("max-adapter-bytes", "PATCHWORK_MAX_ADAPTER_BYTES"),
        .init("allowed-sources", "PATCHWORK_ALLOWED_SOURCES"),
        .init("allowed-local-dirs", "PATCHWORK_ALLOWED_LOCAL_DIRS"),
        .init("adapter-download-timeout", "PATCHWORK_ADAPTER_DOWNLOAD_TIMEOUT"),
        .init("s3-list-page-size", "PATCHWORK_S3_LIST_PAGE_SIZE"),
        .init("block-size", "PATCHWORK_BLOCK_SIZE"),
        .init("kv-cache-bytes", "PATCHWORK_KV_CACHE_BYTES"),
        .init("num-kv-blocks", "PATCHWORK_NUM_KV_BLOCKS"),
        .init("max-num-batched-tokens", "PATCHWORK_MAX_NUM_BATCHED_TOKENS"),
        .init("max-num-seqs", "PATCHWORK_MAX_NUM_SEQS"),
        .init("threads", "PATCHWORK_THREADS"),
        .init("heartbeat-interval", "PATCHWORK_HEARTBEAT_INTERVAL"),
        .init("worker-id", "PATCHWORK_WORKER_ID"),
        .init("log-level", "PATCHWORK_LOG_LEVEL"),
    ]

    func validate() throws {
        guard !routers.isEmpty else { throw ValidationError("give at least one --router tcp://HOST:PORT (or PATCHWORK_ROUTER)") }
        for router in routers {
            do { _ = try Endpoint(parsing: router) } catch { throw ValidationError("--router: \(error.description)") }
        }
        do { _ = try Endpoint(parsing: listen) } catch { throw ValidationError("--listen: \(error.description)") }
        guard maxLoraRank >= 1 else { throw ValidationError("--max-lora-rank must be at least 1") }
        guard maxLoras >= 1 else { throw ValidationError("--max-loras must be at least 1") }
        guard maxCpuLoras >= 0 else { throw ValidationError("--max-cpu-loras must be at least 0") }
        for scheme in Self.list(allowedSources) where !AdapterSource.schemes.contains(scheme) {
            throw ValidationError("--allowed-sources: unknown scheme '\(scheme)' (known: \(AdapterSource.schemes.joined(separator: ",")))")
        }
        for dir in Self.list(allowedLocalDirs) where !dir.hasPrefix("/") {
            throw ValidationError("--allowed-local-dirs: '\(dir)' is not an absolute path")
        }
        guard loraCacheMaxBytes > 0, maxAdapterBytes > 0 else { throw ValidationError("--lora-cache-max-bytes and --max-adapter-bytes must be positive") }
        guard adapterDownloadTimeout > 0 else { throw ValidationError("--adapter-download-timeout must be positive") }
        guard (1...1000).contains(s3ListPageSize) else { throw ValidationError("--s3-list-page-size must be 1...1000") }
        guard blockSize >= 1 else { throw ValidationError("--block-size must be at least 1") }
        guard kvCacheBytes > 0, (numKvBlocks ?? 1) >= 1 else { throw ValidationError("--kv-cache-bytes and --num-kv-blocks must be positive") }
        guard maxNumBatchedTokens >= 16 else { throw ValidationError("--max-num-batched-tokens must be at least 16") }
        guard maxNumSeqs >= 1, threads >= 1 else { throw ValidationError("--max-num-seqs and --threads must be at least 1") }
        guard heartbeatInterval >= 0.05 else { throw ValidationError("--heartbeat-interval must be at least 0.05 seconds") }
        guard (0...65535).contains(systemPort) else { throw ValidationError("--system-port must be 0...65535") }
    }

    func run() async throws {
        let (registry, logger) = ProcessBootstrap.start(label: "patchwork-worker", logLevel: logLevel)
        let settings = WorkerSettings(
            routers: try routers.map { try Endpoint(parsing: $0) }, listen: try Endpoint(parsing: listen), modelPath: model, servedModelName: servedModelName,
            systemHost: systemHost, systemPort: systemPort,
            advertiseHost: advertiseHost ?? Self.defaultAdvertiseHost(systemHost: systemHost),
            lora: LoRACapabilities(enabled: enableLora, maxLoras: maxLoras, maxRank: maxLoraRank),
            sourcePolicy: SourcePolicy(allowedSchemes: Set(Self.list(allowedSources)), allowedLocalDirectories: Self.list(allowedLocalDirs), maxAdapterBytes: maxAdapterBytes),
            cache: AdapterCache.Settings(
                root: loraPath.map { URL(fileURLWithPath: $0) } ?? CacheLayout.defaultRoot(environment: ProcessInfo.processInfo.environment),
                maxBytes: loraCacheMaxBytes, maxAdapterBytes: maxAdapterBytes, downloadTimeout: adapterDownloadTimeout, s3PageSize: s3ListPageSize
            ),
            maxCPULoras: maxCpuLoras, blockSize: blockSize, kvCacheBytes: kvCacheBytes, numKVBlocks: numKvBlocks, maxBatchedTokens: maxNumBatchedTokens,
            maxSequences: maxNumSeqs, threads: threads, heartbeatInterval: heartbeatInterval,
            workerID: WorkerID(workerID ?? defaultProcessID(role: "worker"))
        )
        let worker: Worker
        do {
            worker = try Worker(settings: settings, registry: registry, logger: logger)
        } catch {
            logger.critical("worker failed to start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        try await worker.run()
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func defaultAdvertiseHost(systemHost: String) -> String {
        Endpoint(host: systemHost, port: 0).isWildcard ? ProcessInfo.processInfo.hostName : systemHost
    }
}

/// The worker's configuration after parsing.
struct WorkerSettings: Sendable {
    var routers: [Endpoint]
    var listen: Endpoint
    var modelPath: String
    var servedModelName: String?
    var systemHost: String
    var systemPort: Int
    var advertiseHost: String
    var lora: LoRACapabilities
    var sourcePolicy: SourcePolicy
    var cache: AdapterCache.Settings
    var maxCPULoras: Int
    var blockSize: Int
    var kvCacheBytes: Int
    var numKVBlocks: Int?
    var maxBatchedTokens: Int
    var maxSequences: Int
    var threads: Int
    var heartbeatInterval: Double
    var workerID: WorkerID
}
