import PatchworkCore

/// The blocks of one sequence: its block table and what the cache already held for it.
public struct SequenceBlocks: Sendable, Equatable {
    public let namespace: CacheNamespace
    /// Physical block ids, in position order; position `p` lives in `blockIDs[p / blockSize]`.
    public internal(set) var blockIDs: [Int] = []
    /// Chained hashes of the leading full blocks that are registered in the cache.
    public internal(set) var committedHashes: [UInt64] = []
    /// Prompt tokens found in the cache when the sequence was admitted: they need no compute.
    public internal(set) var cachedTokens = 0
}

/// The paged KV cache's bookkeeping (vLLM's block manager with prefix caching), as a value.
///
/// - Blocks hold `blockSize` tokens and are reference-counted; a full block, once computed, is
///   registered under its chained hash (``BlockHasher``) and can be shared by later sequences
///   with the same namespace and prefix.
/// - A block nobody references keeps its contents while it is cached; such blocks are evicted
///   least-recently-released first when a new block is needed.
/// - Every registration, eviction and clear is recorded as a ``KVEvent`` (vLLM's format) for
///   ``drainEvents()``.
public struct BlockPool: Sendable {
    public let blockSize: Int
    public let blockCount: Int

    private var referenceCounts: [Int]
    /// A registered block's hash, parent hash, tokens and namespace (for events and snapshots).
    private var registered: [Int: (hash: UInt64, parent: UInt64?, tokens: [Int], namespace: CacheNamespace)] = [:]
    private var blockByHash: [UInt64: Int] = [:]
    /// Blocks never used or whose contents were dropped, ready at once.
    private var empty: [Int]
    /// Cached blocks with no references, least recently released first (an intrusive list).
    private var lru: LRUList
    private var events: [KVEvent] = []

    public init(blockSize: Int, blockCount: Int) {
        precondition(blockSize > 0 && blockCount > 0)
        self.blockSize = blockSize
        self.blockCount = blockCount
        referenceCounts = Array(repeating: 0, count: blockCount)
        empty = Array((0..<blockCount).reversed())
        lru = LRUList(capacity: blockCount)
    }

    /// Blocks a new request could get now: empty ones and evictable cached ones.
    public var availableBlocks: Int { empty.count + lru.count }
    /// Blocks referenced by running sequences.
    public var usedBlocks: Int { blockCount - availableBlocks }
    /// Blocks registered in the cache (referenced or not).
    public var cachedBlocks: Int { blockByHash.count }

    public enum AllocationError: Error, Equatable {
        /// Not enough blocks even after evicting every unreferenced cached block.
        case outOfBlocks(needed: Int, available: Int)
    }

    /// Blocks for a sequence whose first `tokens` are known: reuses the longest cached chain of
    /// full blocks (never the whole prompt: its last token must be computed for logits), then
    /// takes new blocks for the rest.
    public mutating func admit(tokens: [Int], namespace: CacheNamespace) throws(AllocationError) -> SequenceBlocks {
        var sequence = SequenceBlocks(namespace: namespace)
        let reusable = max(0, tokens.count - 1) / blockSize
        var parent: UInt64?
        for index in 0..<reusable {
            let start = index * blockSize
            let hash = BlockHasher.hash(parent: parent, namespace: namespace, tokens: tokens[start..<start + blockSize])
            guard let block = blockByHash[hash] else { break }
            retain(block)
            sequence.blockIDs.append(block)
            sequence.committedHashes.append(hash)
            parent = hash
        }
        sequence.cachedTokens = sequence.blockIDs.count * blockSize
        do {
            try grow(&sequence, toTokens: tokens.count)
        } catch {
            release(sequence)
            throw error
        }
        return sequence
    }

    /// Adds blocks so the sequence can hold `count` tokens.
    public mutating func grow(_ sequence: inout SequenceBlocks, toTokens count: Int) throws(AllocationError) {
        let needed = (count + blockSize - 1) / blockSize - sequence.blockIDs.count
        guard needed > 0 else { return }
        guard needed <= availableBlocks else { throw .outOfBlocks(needed: needed, available: availableBlocks) }
        for _ in 0..<needed { sequence.blockIDs.append(takeBlock()) }
    }

    /// Registers the sequence's blocks that are full and computed (its first `computedTokens`
    /// of `tokens`), so later sequences can reuse them.
    public mutating func commit(_ sequence: inout SequenceBlocks, tokens: [Int], computedTokens: Int) {
        while (sequence.committedHashes.count + 1) * blockSize <= computedTokens {
            let index = sequence.committedHashes.count
            let blockTokens = Array(tokens[index * blockSize..<(index + 1) * blockSize])
            let parent = sequence.committedHashes.last
            let hash = BlockHasher.hash(parent: parent, namespace: sequence.namespace, tokens: blockTokens[...])
            let block = sequence.blockIDs[index]
            sequence.committedHashes.append(hash)
            // The same prefix computed twice at once: the first registration wins; this copy
            // stays private to its sequence and is freed with it.
            guard blockByHash[hash] == nil else { continue }
            blockByHash[hash] = block
            registered[block] = (hash, parent, blockTokens, sequence.namespace)
            events.append(storedEvent(hash: hash, parent: parent, tokens: blockTokens, namespace: sequence.namespace))
        }
    }

    private func storedEvent(hash: UInt64, parent: UInt64?, tokens: [Int], namespace: CacheNamespace) -> KVEvent {
        .blockStored(KVEvent.BlockStored(
            blockHashes: [.integer(hash)], parentBlockHash: parent.map { .integer($0) }, tokenIDs: tokens, blockSize: blockSize,
            loraID: namespace.loraID, medium: "CPU", loraName: namespace.loraName
        ))
    }

    /// Drops the sequence's references; registered blocks stay cached until evicted.
    public mutating func release(_ sequence: SequenceBlocks) {
        for block in sequence.blockIDs.reversed() {
            referenceCounts[block] -= 1
            guard referenceCounts[block] == 0 else { continue }
            if registered[block] != nil { lru.append(block) } else { empty.append(block) }
        }
    }

    /// Evicts every unreferenced cached block (e.g. on a model reload).
    public mutating func clearCache() {
        while let block = lru.popFirst() { drop(block) }
        events.append(.allBlocksCleared)
    }

    /// The events recorded since the last call.
    public mutating func drainEvents() -> [KVEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The cache's whole content as `BlockStored` events, parents before children: what a new
    /// subscriber replays to catch up.
    public func snapshot() -> [KVEvent] {
        var emitted = Set<UInt64>()
        var result: [KVEvent] = []
        func emit(_ block: Int) {
            guard let entry = registered[block], !emitted.contains(entry.hash) else { return }
            if let parent = entry.parent, let parentBlock = blockByHash[parent] { emit(parentBlock) }
            emitted.insert(entry.hash)
            result.append(storedEvent(hash: entry.hash, parent: entry.parent, tokens: entry.tokens, namespace: entry.namespace))
        }
        for block in registered.keys.sorted() { emit(block) }
        return result
    }

    private mutating func retain(_ block: Int) {
        if referenceCounts[block] == 0 { lru.remove(block) }
        referenceCounts[block] += 1
    }

    private mutating func takeBlock() -> Int {
        let block: Int
        if let free = empty.popLast() {
            block = free
        } else {
            block = lru.popFirst()!
            drop(block)
        }
        referenceCounts[block] = 1
        return block
    }

    /// Forgets a cached block's registration and records its removal.
    private mutating func drop(_ block: Int) {
        guard let entry = registered.removeValue(forKey: block) else { return }
        blockByHash[entry.hash] = nil
        events.append(.blockRemoved(KVEvent.BlockRemoved(blockHashes: [.integer(entry.hash)], medium: "CPU")))
    }
}

/// A doubly linked list over block ids with O(1) append, removal and pop of the oldest.
struct LRUList: Sendable {
    private var previous: [Int], next: [Int]
    private var member: [Bool]
    private var head = -1, tail = -1
    private(set) var count = 0

    init(capacity: Int) {
        previous = Array(repeating: -1, count: capacity)
        next = Array(repeating: -1, count: capacity)
        member = Array(repeating: false, count: capacity)
    }

    mutating func append(_ id: Int) {
        guard !member[id] else { return }
        member[id] = true
        previous[id] = tail
        next[id] = -1
        if tail >= 0 { next[tail] = id } else { head = id }
        tail = id
        count += 1
    }

    mutating func remove(_ id: Int) {
        guard member[id] else { return }
        member[id] = false
        if previous[id] >= 0 { next[previous[id]] = next[id] } else { head = next[id] }
        if next[id] >= 0 { previous[next[id]] = previous[id] } else { tail = previous[id] }
        count -= 1
    }

    mutating func popFirst() -> Int? {
        guard head >= 0 else { return nil }
        let id = head
        remove(id)
        return id
    }
}
