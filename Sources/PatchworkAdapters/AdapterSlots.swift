import PatchworkCore

/// Where each loaded adapter's weights are, as a pure value: `resident` (ready for compute, at
/// most `maxResident`, `--max-loras`), `host` (kept in memory in the file's compact form, at
/// most `maxHost`, `--max-cpu-loras`) or `disk` (read again, and checked against its digest,
/// when needed). A request for an adapter that is not resident makes it resident: the least
/// recently used idle resident adapter moves to host (and the least recently used host adapter
/// to disk); pinned adapters and adapters with running requests never move. When no resident
/// slot can be freed the request waits, without holding others back.
public struct AdapterSlots: Sendable, Equatable {
    public typealias Tier = AdapterTier

    struct Entry: Sendable, Equatable {
        var tier: Tier
        var pinned: Bool
        var lastUse: UInt64
        var running = 0
        var preparing = false
    }

    public let maxResident: Int
    public let maxHost: Int
    private(set) var entries: [AdapterName: Entry] = [:]
    private var clock: UInt64 = 0

    public init(maxResident: Int, maxHost: Int) {
        self.maxResident = max(1, maxResident)
        self.maxHost = max(0, maxHost)
    }

    public enum Decision: Sendable, Equatable {
        /// Resident: run it.
        case ready
        /// Make it resident (off the critical path) after moving these adapters down a tier.
        case prepare(demotions: [Demotion])
        /// Being prepared, or no resident slot can be freed now: wait.
        case wait
    }

    public struct Demotion: Sendable, Equatable {
        public var name: AdapterName
        public var to: Tier
        public init(name: AdapterName, to: Tier) {
            self.name = name
            self.to = to
        }
    }

    public func tier(of name: AdapterName) -> Tier? { entries[name]?.tier }
    public func count(_ tier: Tier) -> Int { entries.values.filter { $0.tier == tier }.count }
    public var names: [AdapterName] { entries.keys.sorted() }

    /// A newly loaded adapter: kept in host memory (or on disk when host memory is full).
    public mutating func add(_ name: AdapterName, pinned: Bool) -> [Demotion] {
        clock += 1
        var demotions: [Demotion] = []
        if count(.host) >= maxHost, let oldest = leastRecentlyUsed(in: .host) {
            entries[oldest]!.tier = .disk
            demotions.append(Demotion(name: oldest, to: .disk))
        }
        entries[name] = Entry(tier: count(.host) < maxHost ? .host : .disk, pinned: pinned, lastUse: clock)
        return demotions
    }

    public mutating func remove(_ name: AdapterName) { entries[name] = nil }

    /// A request for `name` wants to start.
    public mutating func request(_ name: AdapterName) -> Decision {
        guard var entry = entries[name] else { return .wait }
        clock += 1
        entry.lastUse = clock
        entries[name] = entry
        if entry.tier == .resident { return .ready }
        if entry.preparing { return .wait }
        var demotions: [Demotion] = []
        // Adapters being prepared hold the slot they will take.
        let occupied = entries.values.filter { $0.tier == .resident || $0.preparing }.count
        if occupied >= maxResident {
            guard let victim = leastRecentlyUsed(in: .resident, idleAndUnpinned: true) else { return .wait }
            // The victim keeps its compact form in memory if there is room, else goes to disk.
            // `name` leaves host memory as it becomes resident: its place there counts as free.
            let leaving = entry.tier == .host ? 1 : 0
            if count(.host) - leaving >= maxHost, let oldest = leastRecentlyUsed(in: .host, excluding: name) {
                entries[oldest]!.tier = .disk
                demotions.append(Demotion(name: oldest, to: .disk))
            }
            let target: Tier = count(.host) - leaving < maxHost ? .host : .disk
            entries[victim]!.tier = target
            demotions.append(Demotion(name: victim, to: target))
        }
        entries[name]!.preparing = true
        return .prepare(demotions: demotions)
    }

    /// Preparation finished: `name` is resident (or, when it failed, stays where it was).
    public mutating func prepared(_ name: AdapterName, succeeded: Bool) {
        guard entries[name] != nil else { return }
        entries[name]!.preparing = false
        if succeeded { entries[name]!.tier = .resident }
    }

    public mutating func started(_ name: AdapterName) { entries[name]?.running += 1 }
    public mutating func finished(_ name: AdapterName) { if let r = entries[name]?.running, r > 0 { entries[name]!.running = r - 1 } }

    private func leastRecentlyUsed(in tier: Tier, idleAndUnpinned: Bool = false, excluding: AdapterName? = nil) -> AdapterName? {
        entries.filter { name, e in
            e.tier == tier && name != excluding && !e.preparing && (!idleAndUnpinned || (e.running == 0 && !e.pinned))
        }.min { $0.value.lastUse < $1.value.lastUse }?.key
    }
}
