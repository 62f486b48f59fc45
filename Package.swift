// swift-tools-version:6.1
import PackageDescription

// Strict Swift 6 everywhere; the upcoming features keep imports and existentials explicit.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What every process module imports to serve HTTP, log, measure and parse flags.
let processProducts: [Target.Dependency] = [
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "HTTPTypes", package: "swift-http-types"),
    .product(name: "Hummingbird", package: "hummingbird"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "Metrics", package: "swift-metrics"),
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "Prometheus", package: "swift-prometheus"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
]

let package = Package(
    name: "patchwork",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "patchwork-router", targets: ["patchwork-router"]),
        .executable(name: "patchwork-worker", targets: ["patchwork-worker"]),
        .executable(name: "patchwork-frontend", targets: ["patchwork-frontend"]),
    ],
    dependencies: [
        // Traits off: swift-configuration is not used and costs build time.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Already in the graph through Hummingbird; named because the process modules import them.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // C libraries from Debian, one shim header each.
        // No pkgConfig for libzmq and libcurl: their .pc files pass -isystem flags (krb5) that
        // SwiftPM refuses with a warning; both headers are on the default include path.
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Identities, wire messages, MessagePack, configuration, errors, hashing. No I/O.
        .target(name: "PatchworkCore", dependencies: ["CCrypto"], swiftSettings: strict),
        // Model and adapter file formats: GGUF, GGML tensor types, safetensors headers, LoRA tensor names.
        .target(name: "PatchworkFormats", dependencies: ["PatchworkCore"], exclude: ["README.md"], swiftSettings: strict),
        // Tokenizers, streaming detokenization, Jinja chat templates: what a frontend needs of a
        // model. Formats, because tokenizers are read from a GGUF file's metadata.
        .target(name: "PatchworkTokenizer", dependencies: ["PatchworkCore", "PatchworkFormats"], exclude: ["README.md"], swiftSettings: strict),
        // ZeroMQ sockets on dedicated threads, bridged to async code.
        .target(name: "PatchworkMessaging", dependencies: ["PatchworkCore", "CZeroMQ"], swiftSettings: strict),
        // Blocking HTTP transfers over libcurl with retries (adapter sources, the Kubernetes API).
        .target(name: "PatchworkHTTP", dependencies: ["CCurl"], swiftSettings: strict),
        // PEFT adapter parsing, validation, digests, the per-worker registry, and the s3:// and
        // hf:// sources with their disk cache (SigV4 over libcrypto).
        .target(
            name: "PatchworkAdapters",
            dependencies: ["PatchworkCore", "PatchworkFormats", "PatchworkHTTP", "CCrypto", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The engine's inner loops in C: packed weights, int8 activations, products with run-time
        // ISA dispatch (AVX-512 VNNI, AVX-VNNI, AVX2, scalar), a persistent thread pool. -O3 in
        // every configuration (the tests run debug builds); no -march: each SIMD function names
        // its instruction sets in a target attribute and runs only where the CPU has them.
        .target(name: "CPatchworkKernels", exclude: ["avx2_q.inc", "nonlinear_simd.inc"], cSettings: [.unsafeFlags(["-O3"])]),
        // The inference engine: model loading, the forward pass, the KV cache, batching, sampling.
        .target(
            name: "PatchworkEngine", dependencies: ["PatchworkCore", "PatchworkFormats", "PatchworkTokenizer", "COpenBLAS", "CPatchworkKernels"],
            exclude: ["README.md"], swiftSettings: strict
        ),
        // Pure routing logic: cluster membership and (from [5/6] on) the prefix index.
        .target(name: "PatchworkRouting", dependencies: ["PatchworkCore"], swiftSettings: strict),
        // A vLLM server as an engine: its OpenAI API, streams, metrics (a worker's second backend).
        .target(name: "PatchworkVLLM", dependencies: ["PatchworkCore", "PatchworkHTTP"], swiftSettings: strict),
        // What every process shares: logging, metrics, the system HTTP server, flag/env plumbing.
        .target(
            name: "PatchworkRuntime",
            dependencies: ["PatchworkCore"] + processProducts,
            swiftSettings: strict
        ),

        // Process modules: each assembles its services.
        .target(
            name: "PatchworkRouter",
            dependencies: ["PatchworkCore", "PatchworkMessaging", "PatchworkRouting", "PatchworkRuntime", "PatchworkHTTP"] + processProducts,
            swiftSettings: strict
        ),
        .target(
            name: "PatchworkWorker",
            dependencies: [
                "PatchworkCore", "PatchworkMessaging", "PatchworkAdapters", "PatchworkFormats", "PatchworkTokenizer", "PatchworkEngine", "PatchworkRuntime",
                "PatchworkVLLM", "PatchworkHTTP",
            ] + processProducts,
            swiftSettings: strict
        ),
        .target(
            name: "PatchworkFrontend",
            dependencies: ["PatchworkCore", "PatchworkMessaging", "PatchworkTokenizer", "PatchworkRuntime"] + processProducts,
            swiftSettings: strict
        ),
        .executableTarget(name: "patchwork-router", dependencies: ["PatchworkRouter", "PatchworkRuntime"], swiftSettings: strict),
        .executableTarget(name: "patchwork-worker", dependencies: ["PatchworkWorker", "PatchworkEngine", "PatchworkRuntime"], swiftSettings: strict),
        .executableTarget(name: "patchwork-frontend", dependencies: ["PatchworkFrontend", "PatchworkRuntime"], swiftSettings: strict),

        // Test helpers that start the real processes on free loopback ports.
        .target(name: "PatchworkTesting", dependencies: ["PatchworkCore"], swiftSettings: strict),

        .testTarget(name: "PatchworkCoreTests", dependencies: ["PatchworkCore", "PatchworkTesting"], swiftSettings: strict),
        .testTarget(
            name: "PatchworkRuntimeTests", dependencies: ["PatchworkRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict
        ),
        .testTarget(name: "PatchworkMessagingTests", dependencies: ["PatchworkMessaging"], swiftSettings: strict),
        .testTarget(
            name: "PatchworkAdaptersTests",
            dependencies: ["PatchworkAdapters", "PatchworkCore", "PatchworkFormats", "PatchworkHTTP", "PatchworkTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(name: "PatchworkFormatsTests", dependencies: ["PatchworkFormats", "PatchworkTesting"], swiftSettings: strict),
        .testTarget(name: "PatchworkTokenizerTests", dependencies: ["PatchworkTokenizer", "PatchworkCore", "PatchworkFormats", "PatchworkTesting"], swiftSettings: strict),
        .testTarget(
            name: "PatchworkEngineTests",
            dependencies: ["PatchworkEngine", "PatchworkFormats", "PatchworkTokenizer", "PatchworkAdapters", "PatchworkCore", "PatchworkTesting"],
            swiftSettings: strict
        ),
        .testTarget(name: "PatchworkHTTPTests", dependencies: ["PatchworkHTTP", "PatchworkTesting"], swiftSettings: strict),
        .testTarget(name: "PatchworkVLLMTests", dependencies: ["PatchworkVLLM", "PatchworkCore", "PatchworkHTTP", "PatchworkTesting"], swiftSettings: strict),
        .testTarget(name: "PatchworkWorkerTests", dependencies: ["PatchworkWorker", "PatchworkAdapters", "PatchworkCore", "PatchworkRuntime", "PatchworkTesting", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .testTarget(
            name: "PatchworkFrontendTests",
            dependencies: [
                "PatchworkFrontend", "PatchworkCore", "PatchworkRuntime", "PatchworkTokenizer", "PatchworkTesting",
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        .testTarget(name: "PatchworkRoutingTests", dependencies: ["PatchworkRouting", "PatchworkCore", "PatchworkTesting"], swiftSettings: strict),
        .testTarget(
            name: "PatchworkRouterTests",
            dependencies: [
                "PatchworkRouter", "PatchworkRouting", "PatchworkCore", "PatchworkRuntime", "PatchworkTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["PatchworkCore", "PatchworkMessaging", "PatchworkTokenizer", "PatchworkTesting"],
            exclude: ["openai_client_checks.py", "api_key_checks.py", "openapi_checks.py"],
            swiftSettings: strict
        ),
    ]
)
