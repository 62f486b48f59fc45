import PatchworkCore

/// The adapter lifecycle of one worker as a pure value: which names are loading or loaded, and
/// what to do with each load and unload request. ``AdapterRegistry`` runs the I/O it asks for.
///
/// Rules: one load per name at a time (later requests for the same source join it); a name
/// loaded from one source refuses another source (409) until unloaded; an unload waits for a
/// load of the same name to finish, so load and unload of one name are serialized; two names
/// never share a `lora_id`.
public struct AdapterLifecycle: Sendable {
    public enum State: Sendable, Equatable {
        case loading(source: AdapterSource, since: Double)
        case loaded(AdapterRecord)
    }

    public private(set) var entries: [AdapterName: State] = [:]

    public init() {}

    public enum LoadAction: Sendable, Equatable {
        /// Nothing under this name: read and validate the source.
        case start
        /// A load of the same source is running: wait for its result.
        case join
        case alreadyLoaded(AdapterRecord)
        /// The name is taken by another source.
        case conflict(existingSource: AdapterSource)
        /// Another name has the same `lora_id` (an FNV collision): refuse rather than confuse them.
        case idCollision(with: AdapterName)
    }

    public mutating func requestLoad(name: AdapterName, source: AdapterSource, now: Double) -> LoadAction {
        switch entries[name] {
        case .loading(let running, _)?:
            return running == source ? .join : .conflict(existingSource: running)
        case .loaded(let record)?:
            return record.source == source ? .alreadyLoaded(record) : .conflict(existingSource: record.source)
        case nil:
            if let other = entries.keys.first(where: { $0.loraID == name.loraID && $0 != name }) {
                return .idCollision(with: other)
            }
            entries[name] = .loading(source: source, since: now)
            return .start
        }
    }

    public mutating func loadSucceeded(_ record: AdapterRecord) {
        entries[record.name] = .loaded(record)
    }

    public mutating func loadFailed(name: AdapterName) {
        if case .loading? = entries[name] { entries[name] = nil }
    }

    public enum UnloadAction: Sendable, Equatable {
        case notFound
        /// A load of this name is running; ask again when it has finished.
        case waitForLoad
        /// Removed from the lifecycle; the caller announces it.
        case unloaded(AdapterRecord)
    }

    public mutating func requestUnload(name: AdapterName) -> UnloadAction {
        switch entries[name] {
        case nil: return .notFound
        case .loading?: return .waitForLoad
        case .loaded(let record)?:
            entries[name] = nil
            return .unloaded(record)
        }
    }

    /// Loaded adapters, by name.
    public var loaded: [AdapterRecord] {
        entries.values.compactMap { if case .loaded(let r) = $0 { return r } else { return nil } }.sorted { $0.name < $1.name }
    }
}
