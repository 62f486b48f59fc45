import PatchworkAdapters
import PatchworkCore

/// Which requests may run now, given where their adapters' weights are, as a pure state
/// machine the engine loop feeds and obeys.
///
/// A request for an adapter that is not resident is parked while the adapter is prepared (from
/// host memory, or from disk with its digest checked again); others run meanwhile. Making room
/// demotes the least recently used idle adapter (``AdapterSlots``). A failed preparation fails
/// the requests that waited for it; an unload fails them too.
struct AdapterResidency {
    /// A request and where its replies go.
    struct Parked: Equatable {
        var peer: [UInt8]
        var request: InferenceRequest
    }

    enum Action: Equatable {
        /// Run the request now: its adapter is resident (or it has none). It counts as running
        /// from here (its adapter cannot be demoted); report ``ended(_:)`` when the engine
        /// refuses it.
        case start(Parked)
        /// Build the adapter's compute form off the engine thread, then report ``prepared(_:succeeded:)``.
        case prepare(adapter: AdapterName)
        /// The adapter leaves compute memory (and host memory when it goes to disk).
        case demote(AdapterSlots.Demotion)
        case fail(Parked, ServingFailure.Code, String)
    }

    private(set) var slots: AdapterSlots
    private(set) var parked: [Parked] = []
    private var loaded: Set<AdapterName> = []
    /// The adapter of each request that started with one.
    private var adapterOfRequest: [RequestID: AdapterName] = [:]

    init(maxResident: Int, maxHost: Int) {
        slots = AdapterSlots(maxResident: maxResident, maxHost: maxHost)
    }

    /// Requests running, by adapter.
    var running: [AdapterName: Int] { Dictionary(grouping: adapterOfRequest.values, by: { $0 }).mapValues(\.count) }

    /// A request arrives.
    mutating func submit(_ request: InferenceRequest, from peer: [UInt8]) -> [Action] {
        let entry = Parked(peer: peer, request: request)
        guard let name = request.adapter else { return [.start(entry)] }
        guard loaded.contains(name) else {
            return [.fail(entry, .unknownAdapter, "LoRA adapter '\(name)' is not loaded on this worker")]
        }
        parked.append(entry)
        return admit()
    }

    /// A request ended (finished, failed or cancelled). Its adapter's slot may now be freed for
    /// a parked one.
    mutating func ended(_ requestID: RequestID) -> [Action] {
        parked.removeAll { $0.request.requestID == requestID }
        guard let name = adapterOfRequest.removeValue(forKey: requestID) else { return [] }
        slots.finished(name)
        return parked.isEmpty ? [] : admit()
    }

    /// The registry loaded an adapter; returns demotions made to keep it in host memory.
    mutating func loaded(_ name: AdapterName, pinned: Bool) -> [Action] {
        loaded.insert(name)
        return slots.add(name, pinned: pinned).map(Action.demote)
    }

    /// Where a loaded adapter's weights are.
    func tier(of name: AdapterName) -> AdapterSlots.Tier? { slots.tier(of: name) }

    /// The registry unloaded an adapter: the requests waiting for it fail.
    mutating func unloaded(_ name: AdapterName) -> [Action] {
        loaded.remove(name)
        slots.remove(name)
        let waiting = parked.filter { $0.request.adapter == name }
        parked.removeAll { $0.request.adapter == name }
        return waiting.map { .fail($0, .unknownAdapter, "LoRA adapter '\(name)' was unloaded") }
    }

    /// A preparation finished.
    mutating func prepared(_ name: AdapterName, failure: String?) -> [Action] {
        guard loaded.contains(name) else { return [] }
        slots.prepared(name, succeeded: failure == nil)
        var actions: [Action] = []
        if let failure {
            let waiting = parked.filter { $0.request.adapter == name }
            parked.removeAll { $0.request.adapter == name }
            actions = waiting.map { .fail($0, .internalError, "LoRA adapter '\(name)' could not be prepared: \(failure)") }
        }
        return actions + admit()
    }

    /// Starts parked requests whose adapter is resident, and prepares the adapters others wait for.
    private mutating func admit() -> [Action] {
        var actions: [Action] = []
        var still: [Parked] = []
        for waiting in parked {
            switch slots.request(waiting.request.adapter!) {
            case .ready:
                slots.started(waiting.request.adapter!)
                adapterOfRequest[waiting.request.requestID] = waiting.request.adapter!
                actions.append(.start(waiting))
            case .prepare(let demotions):
                actions += demotions.map(Action.demote) + [.prepare(adapter: waiting.request.adapter!)]
                still.append(waiting)
            case .wait:
                still.append(waiting)
            }
        }
        parked = still
        return actions
    }
}
