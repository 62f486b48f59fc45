import PatchworkCore

/// Which live workers may serve a request, before any cost is weighed.
///
/// A candidate serves the request's model, is not excluded (it failed this request already),
/// and holds the adapter when one is asked for. When no live worker anywhere holds the adapter
/// but its source is known for this model (its workers died), every worker of the model that
/// serves adapters is a candidate, and the chosen one loads the adapter from ``loadSource``
/// first (on-demand placement). An adapter unloaded on purpose has no known source, so it is
/// not brought back.
public struct CandidateFilter: Sendable {
    public let route: RouteRequest
    /// Set for on-demand placement: where the chosen worker loads the adapter from.
    public let loadSource: String?
    /// Whether the cluster serves what the route asks for: an adapter some live worker holds or
    /// whose source is known, or a base model. A base model without live workers is the
    /// frontend's to judge (it remembers which models were served).
    public let served: Bool
    private let excluded: Set<WorkerID>
    /// Nothing can serve the route (an adapter no live worker holds and that cannot be placed).
    private let none: Bool

    /// Decides how to filter `members` (all live workers) for `route`.
    public init(route: RouteRequest, members: some Collection<ClusterMembership.Member>, sources: AdapterSourceBook) {
        self.route = route
        excluded = Set(route.excluding)
        guard let adapter = route.adapter else {
            (loadSource, served, none) = (nil, true, false)
            return
        }
        if members.contains(where: { m in m.adapters.contains { $0.name == adapter } }) {
            (loadSource, served, none) = (nil, true, false)
            return
        }
        let known = sources.source(of: adapter)
        if let known, known.model == route.model {
            (loadSource, served, none) = (known.source, true, false)
        } else {
            (loadSource, served, none) = (nil, known != nil, true)
        }
    }

    /// Whether `member` may serve the route; for an adapter it holds, the digest of its weights.
    public func admits(_ member: borrowing ClusterMembership.Member) -> (admitted: Bool, digest: ContentDigest?) {
        guard !none, member.registration.model.servedModelName == route.model,
              excluded.isEmpty || !excluded.contains(member.registration.workerID)
        else {
            return (false, nil)
        }
        guard let adapter = route.adapter else { return (true, nil) }
        if loadSource != nil { return (member.registration.model.lora.enabled, nil) }
        guard let held = member.adapters.first(where: { $0.name == adapter }) else { return (false, nil) }
        return (true, held.digest)
    }

    /// The candidates among `members`.
    public func candidates(among members: some Collection<ClusterMembership.Member>) -> [ClusterMembership.Member] {
        members.filter { admits($0).admitted }
    }
}
