import PatchworkCore
import Synchronization

/// The worker's loaded adapters as the routers see them, kept current by the registry's change
/// hook. Registrations and heartbeats read it without waiting for the registry actor, which may
/// be busy with a load.
final class AdapterListing: Sendable {
    private let adapters = Mutex<[AdapterName: AdapterSummary]>([:])

    func apply(_ kind: AdapterEvent.Kind, _ summary: AdapterSummary) {
        adapters.withLock { adapters in
            switch kind {
            case .loaded: adapters[summary.name] = summary
            case .unloaded: adapters[summary.name] = nil
            }
        }
    }

    /// Sorted by name.
    var summaries: [AdapterSummary] { adapters.withLock { $0.values.sorted { $0.name < $1.name } } }

    var count: Int { adapters.withLock { $0.count } }
}
