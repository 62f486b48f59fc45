import PatchworkCore

/// The models a client can ask for, derived from the live workers: each base model, and each
/// adapter loaded on any live worker, with `parent` naming its base model.
struct ModelCatalog: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var id: String
        /// The base model's served name; nil for a base model itself.
        var parent: String?
        /// The adapter, typed; nil for a base model.
        var adapter: AdapterName?
        /// Where an adapter came from; the model's name for a base model.
        var root: String
        var contextLength: Int
        /// Workers that serve it.
        var workers: [WorkerID]
        /// An adapter no live worker holds: the chosen worker loads it from `root` first.
        var loadable = false
    }

    var entries: [Entry]

    init(workers: [WorkerView]) {
        var bases: [String: Entry] = [:]
        var adapters: [String: Entry] = [:]
        for worker in workers {
            let base = worker.model.servedModelName
            bases[base, default: Entry(id: base, parent: nil, adapter: nil, root: base, contextLength: worker.model.contextLength, workers: [])]
                .workers.append(worker.workerID)
            for adapter in worker.adapters {
                let name = adapter.name.rawValue
                // An adapter name served over two different base models would be ambiguous:
                // the first base model (in worker order) keeps it.
                if let existing = adapters[name], existing.parent != base { continue }
                adapters[name, default: Entry(id: name, parent: base, adapter: adapter.name, root: adapter.source, contextLength: worker.model.contextLength, workers: [])]
                    .workers.append(worker.workerID)
            }
        }
        // A name cannot be both a base model and an adapter; the base model wins.
        entries = bases.values.sorted { $0.id < $1.id }
            + adapters.values.filter { bases[$0.id] == nil }.sorted { $0.id < $1.id }
    }

    func entry(_ id: String) -> Entry? { entries.first { $0.id == id } }

    /// The entry of an adapter to be loaded on demand, served by its base model's workers.
    func entry(loading adapter: LoadableAdapter) -> Entry? {
        guard let base = entry(adapter.model), base.parent == nil else { return nil }
        return Entry(
            id: adapter.name.rawValue, parent: base.id, adapter: adapter.name, root: adapter.source, contextLength: base.contextLength,
            workers: base.workers, loadable: true
        )
    }
}
