import Foundation
import Logging
import Metrics
import PatchworkCore
import PatchworkHTTP
import PatchworkRouting
import PatchworkRuntime
import ServiceLifecycle
import Synchronization

/// Keeps the adapters declared by `PatchworkAdapter` objects loaded (`--kubernetes`): every
/// `resync` it lists the objects, asks ``DeclarationReconciler`` (through the router's state) what to
/// load and unload on which workers, does it through the workers' `/v1/loras`, and writes each
/// object's status. Declared adapters are also placed on demand like any adapter whose source
/// the router knows. Loads run concurrently, each on a thread of its own.
final class AdapterController: Service {
    private let api: KubernetesAPI
    private let state: RouterState
    private let resync: Duration
    private let logger: Logger
    /// Loads under way.
    private let loading = Mutex<Set<DeclarationPlan.PendingLoad>>([])
    /// Object name → why its last load failed.
    private let failures = Mutex<[String: String]>([:])
    /// Object name → the status last written.
    private let written = Mutex<[String: AdapterDeclaration.Status]>([:])
    private let unreachable = Mutex(false)
    private let loadsSucceeded = Counter(label: "patchwork_router_declared_adapter_loads_total", dimensions: [("outcome", "success")])
    private let loadsFailed = Counter(label: "patchwork_router_declared_adapter_loads_total", dimensions: [("outcome", "failure")])

    /// Sent to workers' `/v1/loras` (the cluster's admin token, when it has one).
    private let adminToken: AdminToken?

    init(api: KubernetesAPI, state: RouterState, resync: Duration, adminToken: AdminToken?, logger: Logger) {
        self.api = api
        self.adminToken = adminToken
        self.state = state
        self.resync = resync
        self.logger = logger
    }

    func run() async throws {
        logger.info("watching PatchworkAdapter objects", metadata: ["kubernetes.api": "\(api.server)", "kubernetes.namespace": "\(api.namespace)"])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.reconcileOnce()
                try? await Task.sleep(for: self.resync)
            }
        }
    }

    func reconcileOnce() async {
        let api = self.api
        let listed = await BlockingThread.run("kubernetes-list") { () -> Result<([AdapterDeclaration], [(name: String, problem: String)]), KubernetesAPI.Failure> in
            do throws(KubernetesAPI.Failure) { return .success(try api.list()) } catch { return .failure(error) }
        }
        let declarations: [AdapterDeclaration]
        var statuses: [String: AdapterDeclaration.Status] = [:]
        switch listed {
        case .failure(let failure):
            // Logged once per outage, not every resync.
            if !unreachable.withLock({ let was = $0; $0 = true; return was }) {
                logger.warning("cannot list PatchworkAdapter objects", metadata: ["error": "\(failure.description)"])
            }
            return
        case .success(let (found, invalid)):
            if unreachable.withLock({ let was = $0; $0 = false; return was }) { logger.info("Kubernetes API reachable again") }
            declarations = found
            for (name, problem) in invalid {
                statuses[name] = AdapterDeclaration.Status(phase: "Failed", loadedOn: [], message: problem, observedGeneration: 0)
            }
        }
        let plan = await state.reconcile(declarations, loading: loading.withLock { $0 }, failures: failures.withLock { $0 })
        for action in plan.actions { perform(action) }
        statuses.merge(plan.statuses) { $1 }
        for (object, status) in statuses.sorted(by: { $0.key < $1.key }) where written.withLock({ $0[object] }) != status {
            let outcome = await BlockingThread.run("kubernetes-status") { () -> String? in
                do throws(KubernetesAPI.Failure) { try api.patchStatus(objectName: object, status); return nil } catch { return error.description }
            }
            if let problem = outcome {
                logger.warning("cannot write a PatchworkAdapter status", metadata: ["kubernetes.object": "\(object)", "error": "\(problem)"])
            } else {
                written.withLock { $0[object] = status }
            }
        }
        // Forget what was written for deleted objects, so a re-created one gets a status.
        let names = Set(statuses.keys)
        written.withLock { $0 = $0.filter { names.contains($0.key) } }
    }

    private func perform(_ action: DeclarationPlan.Action) {
        let logger = self.logger, authorization = adminToken?.authorization
        switch action {
        case .load(let worker, let http, let name, let source, let objectName):
            let key = DeclarationPlan.PendingLoad(worker: worker, adapter: name)
            self.loading.withLock { _ = $0.insert(key) }
            logger.info("loading declared adapter", metadata: ["worker.id": "\(worker)", "adapter.name": "\(name)", "adapter.source": "\(source)"])
            Task {
                let failure = await BlockingThread.run("adapter-controller") { () -> String? in
                    Self.call(method: "POST", url: "\(http)/v1/loras", authorization: authorization, body: try? JSONEncoder().encode(LoadRequest(lora_name: name.rawValue, source: .init(uri: source))))
                }
                self.loading.withLock { _ = $0.remove(key) }
                self.failures.withLock { $0[objectName] = failure.map { "worker \(worker): \($0)" } }
                (failure == nil ? self.loadsSucceeded : self.loadsFailed).increment()
                if let failure {
                    logger.warning("declared adapter failed to load", metadata: ["worker.id": "\(worker)", "adapter.name": "\(name)", "error": "\(failure)"])
                }
            }
        case .unload(let worker, let http, let name):
            logger.info("unloading adapter no longer declared", metadata: ["worker.id": "\(worker)", "adapter.name": "\(name)"])
            Task {
                let path = name.rawValue.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }.joined(separator: "/")
                if let failure = await BlockingThread.run("adapter-controller", { Self.call(method: "DELETE", url: "\(http)/v1/loras/\(path)", authorization: authorization, body: nil) }) {
                    logger.warning("unload failed", metadata: ["worker.id": "\(worker)", "adapter.name": "\(name)", "error": "\(failure)"])
                }
            }
        }
    }

    /// The worker's load request, in the seed's shape.
    struct LoadRequest: Encodable {
        struct Source: Encodable { var uri: String }
        var lora_name: String
        var source: Source
    }

    /// One call to a worker's adapter API; nil on success, else the worker's message.
    private static func call(method: String, url: String, authorization: String?, body: Data?) -> String? {
        let headers = [(name: "content-type", value: "application/json")] + (authorization.map { [(name: "authorization", value: $0)] } ?? [])
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body)
        do {
            // Downloads can take minutes: the worker answers when the adapter is loaded.
            let response = try HTTPTransfer.perform(request, to: .memory, limits: TransferLimits(connectTimeout: 5, requestTimeout: 900))
            if response.status == 200 { return nil }
            struct Answer: Decodable { var message: String? }
            let message = (try? JSONDecoder().decode(Answer.self, from: response.body))?.message
            return "HTTP \(response.status): \(message ?? String(decoding: response.body.prefix(200), as: UTF8.self))"
        } catch {
            return "cannot reach \(url): \(error.message)"
        }
    }
}
