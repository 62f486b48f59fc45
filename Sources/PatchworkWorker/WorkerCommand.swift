import ArgumentParser
import Foundation
import Logging
import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import PatchworkFormats
import PatchworkRuntime
import PatchworkVLLM

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
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the worker (the default subcommand).", discussion: EnvironmentOption.help(environment)
    )

    @OptionGroup var routerAddresses: RouterAddressOptions

    @Option(help: "The base model: a GGUF file or a Hugging Face directory (with --engine vllm: the directory vLLM serves, for its config, tokenizer and chat template).")
    var model: String

    @Option(help: "The engine that runs requests: patchwork (this process, on the model file) or vllm (a vLLM server at --engine-url).")
    var engine = "patchwork"

    @Option(help: "With --engine vllm: the vLLM server's URL, http://HOST:PORT.")
    var engineUrl: String?

    @Option(help: "With --engine vllm: the endpoint vLLM's KV-event publisher binds (its --kv-events-config endpoint: tcp://HOST:5557, or ipc://PATH on one host); its events are relayed to the routers.")
    var engineKvEvents: String?

    @Option(help: "With --engine vllm: the endpoint of vLLM's KV-event replay socket (its replay_endpoint), to recover lost batches.")
    var engineKvReplay: String?

    @Option(help: "With --engine vllm: seconds to wait at start for vLLM to answer.")
    var engineStartupTimeout = 600.0

    @Option(help: "The name clients use for the base model. Default: the model's own name.")
    var servedModelName: String?

    @Option(help: "Quantize the model's f32/f16/bf16 weight matrices at load: q8_0 or q4_0 (quantized GGUF tensors stay as they are).")
    var quantize: String?

    @Flag(help: "Decode every weight matrix to f32 at load and multiply f32 activations: the file's exact function, independent of batching and caching (4 bytes per weight, slower; for checks against f32 references).")
    var dequantize = false

    @Option(help: "ZeroMQ endpoint for serving requests (tokenizer and chat template now, inference with the batching engine).")
    var listen = "tcp://0.0.0.0:7100"

    @OptionGroup var management: ManagementOptions

    @Option(help: "Port of that HTTP server; 0 picks a free one.")
    var systemPort = 8081

    @Option(help: "Host name or address routers and frontends use to reach this worker. Default: the system host, or this machine's host name when that is a wildcard.")
    var advertiseHost: String?

    @Flag(help: "Serve LoRA adapters.")
    var enableLora = false

    @Option(help: "Highest adapter rank accepted.")
    var maxLoraRank = 64

    @Option(help: "Adapters resident for compute at once.")
    var maxLoras = 8

    @Option(help: "Adapters kept in host memory beyond the resident ones; more go to disk.")
    var maxCpuLoras = 32

    @Option(help: "Folder of the adapter download cache. Default: ~/.cache/patchwork/loras.")
    var loraPath: String?

    @Option(help: "Bytes the adapter cache may hold; unused entries beyond it are evicted, least recently used first.")
    var loraCacheMaxBytes: Int64 = 20 << 30

    @Option(help: "Largest adapter accepted, in bytes.")
    var maxAdapterBytes: Int64 = 2 << 30

    @Option(help: "Adapter source schemes accepted, comma-separated.")
    var allowedSources = "file,s3,hf"

    @Option(help: "Folders file:// adapters must lie in, comma-separated; empty: anywhere.")
    var allowedLocalDirs = ""

    @Option(help: "Seconds one adapter download may take, retries included.")
    var adapterDownloadTimeout = 600.0

    @Option(help: "Longest sequence (prompt and completion) in tokens, at most the model's context length. Default: the model's.")
    var maxModelLen: Int?

    @Option(help: "Keys per S3 listing page (S3's maximum is 1000).")
    var s3ListPageSize = 1000

    @Flag(help: "Let s3:// and hf:// downloads reach link-local and cloud-metadata addresses (refused by default: SSRF).")
    var allowLinkLocalSources = false

    @Option(help: "Tokens per KV-cache block. Default: 16; with --engine vllm, vLLM's.")
    var blockSize: Int?

    @Option(help: "Bytes of memory for the KV cache.")
    var kvCacheBytes = 512 << 20

    @Option(help: "KV-cache blocks; overrides --kv-cache-bytes.")
    var numKvBlocks: Int?

    @Option(help: "How the KV cache stores keys and values: auto (f16 for quantized weights, as llama.cpp; f32 otherwise), f32 or f16.")
    var kvCacheDtype = "auto"

    @Option(help: "Tokens one engine step computes at most, over all sequences.")
    var maxNumBatchedTokens = 512

    @Option(help: "Sequences running at once at most.")
    var maxNumSeqs = 64

    @Option(help: "Compute threads. Default: the CPUs the process may run on.")
    var threads = Engine.availableCPUs

    @Option(help: "Seconds between heartbeats to the routers.")
    var heartbeatInterval = 1.0

    @Option(help: "This worker's id in the cluster. Default: host name and a random suffix.")
    var workerID: String?

    @OptionGroup var logging: LoggingOptions

    static let environment: [EnvironmentOption] = RouterAddressOptions.environment + LoggingOptions.environment + ManagementOptions.environment + [
        .init("model", "PATCHWORK_MODEL"),
        .init("engine", "PATCHWORK_ENGINE"),
        .init("engine-url", "PATCHWORK_ENGINE_URL"),
        .init("engine-kv-events", "PATCHWORK_ENGINE_KV_EVENTS"),
        .init("engine-kv-replay", "PATCHWORK_ENGINE_KV_REPLAY"),
        .init("engine-startup-timeout", "PATCHWORK_ENGINE_STARTUP_TIMEOUT"),
        .init("served-model-name", "PATCHWORK_SERVED_MODEL_NAME"),
        .init("quantize", "PATCHWORK_QUANTIZE"),
        .init("dequantize", "PATCHWORK_DEQUANTIZE", .flag),
        .init("listen", "PATCHWORK_WORKER_LISTEN"),
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
        .init("max-model-len", "PATCHWORK_MAX_MODEL_LEN"),
        .init("allow-link-local-sources", "PATCHWORK_ALLOW_LINK_LOCAL_SOURCES", .flag),
        .init("block-size", "PATCHWORK_BLOCK_SIZE"),
        .init("kv-cache-bytes", "PATCHWORK_KV_CACHE_BYTES"),
        .init("num-kv-blocks", "PATCHWORK_NUM_KV_BLOCKS"),
        .init("kv-cache-dtype", "PATCHWORK_KV_CACHE_DTYPE"),
        .init("max-num-batched-tokens", "PATCHWORK_MAX_NUM_BATCHED_TOKENS"),
        .init("max-num-seqs", "PATCHWORK_MAX_NUM_SEQS"),
        .init("threads", "PATCHWORK_THREADS"),
        .init("heartbeat-interval", "PATCHWORK_HEARTBEAT_INTERVAL"),
        .init("worker-id", "PATCHWORK_WORKER_ID"),
    ]

    func validate() throws {
        do { _ = try Endpoint(parsing: listen) } catch { throw ValidationError("--listen: \(error.description)") }
        if let servedModelName {
            do { _ = try ModelName(servedModelName) } catch { throw ValidationError("--served-model-name: \(error.description)") }
        }
        _ = try Self.quantizationTarget(quantize)
        _ = try Self.kvCacheType(kvCacheDtype)
        guard quantize == nil || !dequantize else { throw ValidationError("--quantize and --dequantize exclude each other") }
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
        guard (maxModelLen ?? 1) >= 1 else { throw ValidationError("--max-model-len must be at least 1") }
        guard (blockSize ?? 1) >= 1 else { throw ValidationError("--block-size must be at least 1") }
        try validateEngineOptions()
        guard kvCacheBytes > 0, (numKvBlocks ?? 1) >= 1 else { throw ValidationError("--kv-cache-bytes and --num-kv-blocks must be positive") }
        guard maxNumBatchedTokens >= 16 else { throw ValidationError("--max-num-batched-tokens must be at least 16") }
        guard maxNumSeqs >= 1, threads >= 1 else { throw ValidationError("--max-num-seqs and --threads must be at least 1") }
        guard heartbeatInterval >= 0.05 else { throw ValidationError("--heartbeat-interval must be at least 0.05 seconds") }
        guard (0...65535).contains(systemPort) else { throw ValidationError("--system-port must be 0...65535") }
    }

    func run() async throws {
        let (registry, logger) = ProcessBootstrap.start(label: "patchwork-worker", logLevel: logging.logLevel)
        management.logPolicy(logger)
        var cacheSettings = AdapterCache.Settings(
            root: loraPath.map { URL(fileURLWithPath: $0) } ?? CacheLayout.defaultRoot(environment: ProcessInfo.processInfo.environment),
            maxBytes: loraCacheMaxBytes, maxAdapterBytes: maxAdapterBytes, downloadTimeout: adapterDownloadTimeout, s3PageSize: s3ListPageSize
        )
        cacheSettings.allowsLinkLocal = allowLinkLocalSources
        let settings = WorkerSettings(
            routers: routerAddresses.endpoints, listen: try Endpoint(parsing: listen), modelPath: model, servedModelName: try servedModelName.map { try ModelName($0) },
            quantize: try Self.quantizationTarget(quantize), dequantize: dequantize, systemHost: management.resolvedSystemHost,
            systemPort: systemPort, adminToken: try management.adminToken(),
            advertiseHost: advertiseHost ?? Self.defaultAdvertiseHost(systemHost: management.resolvedSystemHost),
            lora: LoRACapabilities(enabled: enableLora, maxLoras: maxLoras, maxRank: maxLoraRank),
            sourcePolicy: SourcePolicy(allowedSchemes: Set(Self.list(allowedSources)), allowedLocalDirectories: Self.list(allowedLocalDirs), maxAdapterBytes: maxAdapterBytes),
            cache: cacheSettings,
            engine: try engineKind(), maxModelLen: maxModelLen, maxCPULoras: maxCpuLoras, blockSize: blockSize, kvCacheBytes: kvCacheBytes, numKVBlocks: numKvBlocks, kvCacheType: try Self.kvCacheType(kvCacheDtype),
            maxBatchedTokens: maxNumBatchedTokens,
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

    /// Each `--engine-*` option on its own. Which go together is checked by ``engineKind()`` at
    /// start, so each option's environment variable can be checked alone.
    func validateEngineOptions() throws {
        guard ["patchwork", "vllm"].contains(engine) else { throw ValidationError("--engine takes patchwork or vllm, not '\(engine)'") }
        if let engineUrl { do { _ = try VLLMClient(url: engineUrl) } catch { throw ValidationError("--engine-url: \(error.message)") } }
        for (flag, endpoint) in [("--engine-kv-events", engineKvEvents), ("--engine-kv-replay", engineKvReplay)] {
            // ZeroMQ endpoints: tcp://HOST:PORT across hosts, ipc://PATH on one.
            if let endpoint, !(endpoint.hasPrefix("ipc://") && endpoint.count > 6) {
                do { _ = try Endpoint(parsing: endpoint) } catch { throw ValidationError("\(flag): \(error.description) (or ipc://PATH)") }
            }
        }
        guard engineStartupTimeout > 0 else { throw ValidationError("--engine-startup-timeout must be positive") }
    }

    /// `--engine` and the options that go with it, checked together.
    func engineKind() throws -> EngineKind {
        switch engine {
        case "patchwork":
            guard engineUrl == nil, engineKvEvents == nil, engineKvReplay == nil else {
                throw ValidationError("--engine-url, --engine-kv-events and --engine-kv-replay go with --engine vllm")
            }
            return .patchwork
        case "vllm":
            guard let engineUrl else { throw ValidationError("--engine vllm needs --engine-url http://HOST:PORT") }
            guard engineKvReplay == nil || engineKvEvents != nil else { throw ValidationError("--engine-kv-replay goes with --engine-kv-events") }
            guard quantize == nil, !dequantize else { throw ValidationError("--quantize and --dequantize are for --engine patchwork (vLLM holds the weights)") }
            return .vllm(VLLMSettings(url: engineUrl, kvEvents: engineKvEvents, kvReplay: engineKvReplay, startupTimeout: engineStartupTimeout))
        default:
            throw ValidationError("--engine takes patchwork or vllm, not '\(engine)'")
        }
    }

    /// The type `--quantize` names (q8_0, q4_0; any case).
    /// `--kv-cache-dtype`: nil for `auto`.
    static func kvCacheType(_ text: String) throws -> KVCacheType? {
        if text == "auto" { return nil }
        guard let type = KVCacheType(rawValue: text) else { throw ValidationError("--kv-cache-dtype takes auto, f32 or f16, not '\(text)'") }
        return type
    }

    static func quantizationTarget(_ text: String?) throws -> GGMLType? {
        guard let text else { return nil }
        guard let type = GGMLQuantizer.targets.first(where: { $0.name.lowercased() == text.lowercased() }) else {
            throw ValidationError("--quantize takes \(GGMLQuantizer.targets.map { $0.name.lowercased() }.joined(separator: " or ")), not '\(text)'")
        }
        return type
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
    var servedModelName: ModelName?
    /// Set: f32/f16/bf16 weight matrices are quantized to it at load.
    var quantize: GGMLType?
    /// Set: every weight matrix is decoded to f32 at load.
    var dequantize: Bool
    var systemHost: String
    var systemPort: Int
    /// Set: every route but /health and /metrics asks for it.
    var adminToken: AdminToken?
    var advertiseHost: String
    var lora: LoRACapabilities
    var sourcePolicy: SourcePolicy
    var cache: AdapterCache.Settings
    var engine: EngineKind
    /// `--max-model-len`: caps the model's context length.
    var maxModelLen: Int?
    var maxCPULoras: Int
    /// nil: the engine's default (16 for Patchwork's, vLLM's own for vLLM).
    var blockSize: Int?
    var kvCacheBytes: Int
    var numKVBlocks: Int?
    /// nil: the model's default (``Model/defaultKVCacheType``).
    var kvCacheType: KVCacheType?
    var maxBatchedTokens: Int
    var maxSequences: Int
    var threads: Int
    var heartbeatInterval: Double
    var workerID: WorkerID
}

/// Which engine runs a worker's requests.
enum EngineKind: Sendable, Equatable {
    case patchwork
    case vllm(VLLMSettings)
}

/// `--engine vllm`'s settings.
struct VLLMSettings: Sendable, Equatable {
    var url: String
    /// vLLM's KV-event publisher and replay endpoints; nil: no events are relayed.
    var kvEvents: String?
    var kvReplay: String?
    var startupTimeout: Double
}
