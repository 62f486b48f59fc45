import PatchworkCore

/// The models a client can ask for, derived from the live workers: each base model, and each
/// adapter loaded on any live worker, with `parent` naming its base model.
struct ModelCatalog: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        /// The name clients ask for: the base model's or the adapter's.
        var id: String
        /// The base model that serves it (itself, for a base model).
        var base: ModelName
        /// The adapter, typed; nil for a base model.
        var adapter: AdapterName?
        /// Where an adapter came from; the model's name for a base model.
        var root: String
        var contextLength: Int
        /// Workers that serve it.
        var workers: [WorkerID]
        /// An adapter no live worker holds: the chosen worker loads it from `root` first.
        var loadable = false

        /// The base model's served name for an adapter; nil for a base model itself.
        var parent: ModelName? { adapter == nil ? nil : base }
    }

    var entries: [Entry]

    init(workers: [WorkerView]) {
        var bases: [ModelName: Entry] = [:]
        var adapters: [String: Entry] = [:]
        for worker in workers {
            let base = worker.model.servedModelName
            bases[base, default: Entry(id: base.rawValue, base: base, adapter: nil, root: base.rawValue, contextLength: worker.model.contextLength, workers: [])]
                .workers.append(worker.workerID)
            for adapter in worker.adapters {
                let name = adapter.name.rawValue
                // An adapter name served over two different base models would be ambiguous:
                // the first base model (in worker order) keeps it.
                if let existing = adapters[name], existing.base != base { continue }
                adapters[name, default: Entry(id: name, base: base, adapter: adapter.name, root: adapter.source, contextLength: worker.model.contextLength, workers: [])]
                    .workers.append(worker.workerID)
            }
        }
        // A name cannot be both a base model and an adapter; the base model wins.
        let baseIDs = Set(bases.keys.map(\.rawValue))
        entries = bases.values.sorted { $0.id < $1.id }
            + adapters.values.filter { !baseIDs.contains($0.id) }.sorted { $0.id < $1.id }
    }

    func entry(_ id: String) -> Entry? { entries.first { $0.id == id } }

    /// The entry of an adapter to be loaded on demand, served by its base model's workers.
    func entry(loading adapter: LoadableAdapter) -> Entry? {
        guard let base = entry(adapter.model.rawValue), base.parent == nil else { return nil }
        return Entry(
            id: adapter.name.rawValue, base: base.base, adapter: adapter.name, root: adapter.source, contextLength: base.contextLength,
            workers: base.workers, loadable: true
        )
    }
}
