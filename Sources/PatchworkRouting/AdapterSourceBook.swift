import PatchworkCore

/// Where each adapter the router can place on demand comes from: learnt from the workers that
/// hold it, and declared by `PatchworkAdapter` objects.
///
/// A source learnt from workers outlives them (when its workers die, a request for the adapter
/// is routed to a worker that loads it first), but is forgotten when the last worker holding
/// the adapter unloads it on purpose: an adapter taken down is not brought back. A declared
/// source stays while its declaration does (``declare(_:)``).
public struct AdapterSourceBook: Sendable, Equatable {
    private var sources: [AdapterName: LoadableAdapter] = [:]
    /// The declarations last given to ``declare(_:)``, by adapter name.
    public private(set) var declared: [AdapterName: AdapterDeclaration] = [:]

    public init() {}

    /// The source of `name`, when known.
    public func source(of name: AdapterName) -> LoadableAdapter? { sources[name] }

    /// Remembers the sources of the adapters a worker holds (the latest word wins).
    public mutating func learn(from member: ClusterMembership.Member) {
        for adapter in member.adapters {
            sources[adapter.name] = LoadableAdapter(name: adapter.name, model: member.registration.model.servedModelName, source: adapter.source)
        }
    }

    /// A worker unloaded `name` on purpose; `stillHeld` tells whether another live worker holds
    /// it. When none does, the source is forgotten.
    public mutating func unloaded(_ name: AdapterName, stillHeld: Bool) {
        if !stillHeld { sources[name] = nil }
    }

    /// Replaces the declarations: the sources of adapters no longer declared are forgotten (their
    /// holders are told to unload them), the declared ones are known from now on.
    public mutating func declare(_ declarations: [AdapterDeclaration]) {
        let wanted = Dictionary(declarations.map { ($0.loraName, $0) }, uniquingKeysWith: { first, _ in first })
        for name in declared.keys where wanted[name] == nil { sources[name] = nil }
        declared = wanted
        for declaration in wanted.values {
            sources[declaration.loraName] = LoadableAdapter(name: declaration.loraName, model: declaration.baseModel, source: declaration.source)
        }
    }

    /// The known adapters not in `held` (no live worker has them), by name.
    public func loadable(excluding held: Set<AdapterName>) -> [LoadableAdapter] {
        sources.values.filter { !held.contains($0.name) }.sorted { $0.name < $1.name }
    }
}
