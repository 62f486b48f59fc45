import PatchworkCore

/// What it takes to make the live workers match the `PatchworkAdapter` declarations, as a pure
/// plan: the adapter controller carries out its loads and unloads and writes its statuses.
///
/// A declaration wants `replicas` live workers of its base model (that serve adapters) to hold
/// the adapter from its source:
/// - holders of the name from another source unload it first (a changed `spec.source` rolls
///   out: the freed workers load the new source on a later pass);
/// - missing replicas are loaded on the least busy workers that neither hold the name nor have
///   a load of it under way;
/// - an adapter no longer declared is unloaded from every worker holding it;
/// - extra holders (loaded by hand or on demand) are left alone.
///
/// Status: `Ready` when enough workers hold it, else `Failed` with the last load's failure, or
/// `Pending`.
public enum DeclarationReconciler {
    /// - Parameters:
    ///   - declarations: the objects listed now.
    ///   - previous: the declarations of the last pass, by adapter name.
    ///   - members: the live workers.
    ///   - loading: loads the controller started that have not finished.
    ///   - failures: by object name, why its last load failed.
    public static func plan(
        _ declarations: [AdapterDeclaration], previous: [AdapterName: AdapterDeclaration], members: some Collection<ClusterMembership.Member>,
        loading: Set<DeclarationPlan.PendingLoad>, failures: [String: String]
    ) -> DeclarationPlan {
        var plan = DeclarationPlan()
        let wanted = Dictionary(declarations.map { ($0.loraName, $0) }, uniquingKeysWith: { first, _ in first })
        let members = members.sorted { $0.registration.workerID < $1.registration.workerID }
        for name in previous.keys.sorted() where wanted[name] == nil {
            for m in members where m.adapters.contains(where: { $0.name == name }) {
                plan.actions.append(.unload(worker: m.registration.workerID, http: m.registration.httpURL, name: name))
            }
        }
        for declaration in wanted.values.sorted(by: { $0.objectName < $1.objectName }) {
            let name = declaration.loraName
            let ofModel = members.filter { $0.registration.model.servedModelName == declaration.baseModel && $0.registration.model.lora.enabled }
            var holders: [WorkerID] = []
            for m in ofModel {
                guard let held = m.adapters.first(where: { $0.name == name }) else { continue }
                if sameSource(held.source, declaration.source) {
                    holders.append(m.registration.workerID)
                } else {
                    plan.actions.append(.unload(worker: m.registration.workerID, http: m.registration.httpURL, name: name))
                }
            }
            let inFlight = ofModel.map(\.registration.workerID).filter { loading.contains(.init(worker: $0, adapter: name)) }
            var needed = declaration.replicas - holders.count - inFlight.count
            // Reported work counted in blocks of the default size: only the order matters here.
            let idle = ofModel.filter { m in !m.adapters.contains { $0.name == name } && !inFlight.contains(m.registration.workerID) }
                .sorted { $0.metrics.busyBlocks(blockSize: KVBlock.defaultSize) < $1.metrics.busyBlocks(blockSize: KVBlock.defaultSize) }
            for m in idle where needed > 0 {
                plan.actions.append(.load(
                    worker: m.registration.workerID, http: m.registration.httpURL, name: name, source: declaration.source, objectName: declaration.objectName
                ))
                needed -= 1
            }
            let ready = holders.count >= declaration.replicas
            let failure = failures[declaration.objectName]
            let waiting = ofModel.isEmpty
                ? "no live worker serves \(declaration.baseModel) with adapters"
                : "loading on \(declaration.replicas - holders.count) more workers"
            plan.statuses[declaration.objectName] = AdapterDeclaration.Status(
                phase: ready ? "Ready" : (failure != nil ? "Failed" : "Pending"), loadedOn: holders.map(\.rawValue).sorted(),
                message: ready ? "loaded on \(holders.count) of \(declaration.replicas) requested workers" : failure ?? waiting,
                observedGeneration: declaration.generation
            )
        }
        return plan
    }

    /// Whether a worker's source (as it describes it) is the declared URI, allowing for the
    /// forms a worker normalizes (a trailing slash, `@main`).
    public static func sameSource(_ held: String, _ declared: String) -> Bool {
        func normal(_ uri: String) -> String {
            var u = uri
            while u.hasSuffix("/") && !u.hasSuffix("://") { u.removeLast() }
            if u.hasPrefix("hf://") && u.hasSuffix("@main") { u.removeLast(5) }
            return u
        }
        return normal(held) == normal(declared)
    }
}
