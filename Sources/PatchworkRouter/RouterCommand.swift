import ArgumentParser
import Foundation
import Logging
import PatchworkCore
import PatchworkRouting
import PatchworkRuntime
import ServiceLifecycle

/// `patchwork-router`: keeps the cluster's membership and (from [5/6] on) its KV-cache index, and
/// tells frontends which workers serve what.
public struct RouterCommand: EnvironmentConfigurable {
    public static let configuration = CommandConfiguration(
        commandName: "patchwork-router",
        abstract: "Tracks live workers and their adapters, and serves the cluster view to frontends.",
        discussion: EnvironmentOption.help(environment),
        subcommands: [RouterBenchCommand.self]
    )

    @Option(help: "ZeroMQ endpoint for workers and frontends. Port 0 picks a free one.")
    var listen = "tcp://0.0.0.0:7000"

    @Option(help: "ZeroMQ endpoint where workers publish KV-cache events.")
    var eventsListen = "tcp://0.0.0.0:7001"

    @OptionGroup var management: ManagementOptions

    @Option(help: "Port of that HTTP server; 0 picks a free one.")
    var systemPort = 8082

    @Option(help: "Heartbeat intervals a worker may miss before it is declared dead.")
    var heartbeatMisses = 3

    @Option(help: "Cost weight of each prompt block a worker would have to compute.")
    var prefillWeight = 1.0

    @Option(help: "Cost weight of each KV block a worker has in use.")
    var loadWeight = 1.0

    @Option(help: "Cost of an adapter held in host memory rather than resident, in blocks.")
    var hostPenalty = 2.0

    @Option(help: "Cost of an adapter on disk rather than resident, in blocks.")
    var diskPenalty = 8.0

    @Option(help: "Cost of a worker that must load the adapter first (none holds it), in blocks.")
    var absentPenalty = 16.0

    @Option(help: "Cost of evicting a resident adapter to make room (the adapter is not resident and no slot is free), in blocks.")
    var evictionPenalty = 4.0

    @Option(help: "Softmax temperature of the choice; 0 always takes the cheapest worker.")
    var routingTemperature = 0.0

    @Option(help: "kv (lowest cost), round-robin or random.")
    var routingPolicy = "kv"

    @Flag(help: "Approximate mode for engines that publish no KV events: index the router's own decisions instead.")
    var noKvEvents = false

    @Option(help: "In approximate mode, seconds a routed prompt counts as cached on its worker.")
    var approximateTtl = 120.0

    @Flag(help: "Keep the adapters declared by PatchworkAdapter objects loaded, and write their status (in a Kubernetes pod).")
    var kubernetes = false

    @Option(help: "The Kubernetes API server. Default: in-cluster, from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.")
    var kubernetesApi: String?

    @Option(help: "Namespace of the PatchworkAdapter objects. Default: the pod's own.")
    var kubernetesNamespace: String?

    @Option(help: "Bearer token file for the API. Default: the pod's service account token.")
    var kubernetesTokenFile = KubernetesAPI.serviceAccount + "/token"

    @Option(help: "Certificate authorities to trust for the API. Default: the cluster's, in the pod.")
    var kubernetesCaFile = KubernetesAPI.serviceAccount + "/ca.crt"

    @Option(help: "Seconds between reconciliations of declared adapters.")
    var kubernetesResync = 5.0

    @Option(help: "This router's name in logs and cluster views. Default: host name and a random suffix.")
    var routerID: String?

    @OptionGroup var logging: LoggingOptions

    public init() {}

    public static let environment: [EnvironmentOption] = LoggingOptions.environment + ManagementOptions.environment + [
        .init("listen", "PATCHWORK_ROUTER_LISTEN"),
        .init("events-listen", "PATCHWORK_EVENTS_LISTEN"),
        .init("system-port", "PATCHWORK_SYSTEM_PORT"),
        .init("heartbeat-misses", "PATCHWORK_HEARTBEAT_MISSES"),
        .init("prefill-weight", "PATCHWORK_PREFILL_WEIGHT"),
        .init("load-weight", "PATCHWORK_LOAD_WEIGHT"),
        .init("host-penalty", "PATCHWORK_HOST_PENALTY"),
        .init("disk-penalty", "PATCHWORK_DISK_PENALTY"),
        .init("absent-penalty", "PATCHWORK_ABSENT_PENALTY"),
        .init("eviction-penalty", "PATCHWORK_EVICTION_PENALTY"),
        .init("routing-temperature", "PATCHWORK_ROUTING_TEMPERATURE"),
        .init("routing-policy", "PATCHWORK_ROUTING_POLICY"),
        .init("no-kv-events", "PATCHWORK_NO_KV_EVENTS", .flag),
        .init("approximate-ttl", "PATCHWORK_APPROXIMATE_TTL"),
        .init("kubernetes", "PATCHWORK_KUBERNETES", .flag),
        .init("kubernetes-api", "PATCHWORK_KUBERNETES_API"),
        .init("kubernetes-namespace", "PATCHWORK_KUBERNETES_NAMESPACE"),
        .init("kubernetes-token-file", "PATCHWORK_KUBERNETES_TOKEN_FILE"),
        .init("kubernetes-ca-file", "PATCHWORK_KUBERNETES_CA_FILE"),
        .init("kubernetes-resync", "PATCHWORK_KUBERNETES_RESYNC"),
        .init("router-id", "PATCHWORK_ROUTER_ID"),
    ]

    public func validate() throws {
        guard RoutingPolicy(rawValue: routingPolicy) != nil else {
            throw ValidationError("--routing-policy must be one of \(RoutingPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if kubernetes {
            guard kubernetesApi ?? KubernetesAPI.inClusterServer(environment: ProcessInfo.processInfo.environment) != nil else {
                throw ValidationError("--kubernetes outside a pod needs --kubernetes-api")
            }
            guard kubernetesNamespace ?? KubernetesAPI.inClusterNamespace() != nil else {
                throw ValidationError("--kubernetes outside a pod needs --kubernetes-namespace")
            }
            guard kubernetesResync >= 0.5 else { throw ValidationError("--kubernetes-resync must be at least 0.5 seconds") }
        }
        guard approximateTtl > 0 else { throw ValidationError("--approximate-ttl must be positive") }
        guard [prefillWeight, loadWeight, hostPenalty, diskPenalty, absentPenalty, evictionPenalty, routingTemperature].allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw ValidationError("cost weights and penalties must be finite and not negative")
        }
        guard heartbeatMisses >= 1 else { throw ValidationError("--heartbeat-misses must be at least 1") }
        guard (0...65535).contains(systemPort) else { throw ValidationError("--system-port must be 0...65535") }
        do {
            _ = try Endpoint(parsing: listen)
            _ = try Endpoint(parsing: eventsListen)
        } catch { throw ValidationError(error.description) }
    }

    public func run() async throws {
        let (registry, logger) = ProcessBootstrap.start(label: "patchwork-router", logLevel: logging.logLevel)
        management.logPolicy(logger)
        let adminToken = try management.adminToken()
        let id = routerID ?? defaultProcessID(role: "router")
        let service: RouterService
        do {
            service = try RouterService(
                routerID: id, listen: try Endpoint(parsing: listen), eventsListen: try Endpoint(parsing: eventsListen),
                missedHeartbeatsAllowed: heartbeatMisses,
                cost: RoutingCost(
                    prefillWeight: prefillWeight, loadWeight: loadWeight, hostPenalty: hostPenalty, diskPenalty: diskPenalty,
                    absentPenalty: absentPenalty, evictionPenalty: evictionPenalty, temperature: routingTemperature
                ),
                policy: RoutingPolicy(rawValue: routingPolicy) ?? .kv,
                approximateTTL: noKvEvents ? approximateTtl : nil,
                logger: logger
            )
        } catch {
            logger.critical("router failed to start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        let router = SystemRouter.make(registry: registry, service: service, adminToken: adminToken)
        var services: [any Service] = [service]
        if kubernetes,
           let server = kubernetesApi ?? KubernetesAPI.inClusterServer(environment: ProcessInfo.processInfo.environment),
           let namespace = kubernetesNamespace ?? KubernetesAPI.inClusterNamespace() {
            let readable: (String) -> String? = { FileManager.default.isReadableFile(atPath: $0) ? $0 : nil }
            let api = KubernetesAPI(server: server, namespace: namespace, tokenFile: readable(kubernetesTokenFile), caFile: readable(kubernetesCaFile))
            services.append(AdapterController(api: api, state: service.state, resync: .milliseconds(Int(kubernetesResync * 1000)), adminToken: adminToken, logger: logger))
        }
        try await ProcessRunner.run(router: router, host: management.resolvedSystemHost, port: systemPort, services: services, logger: logger)
    }
}
