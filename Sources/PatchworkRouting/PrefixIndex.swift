import PatchworkCore

/// Which workers hold which cached prompt prefixes, from their KV events: a radix tree per
/// ``Namespace`` (an adapter's name and content digest; the base model is its own), one node
/// per block.
///
/// A node's key is a hash of its block's *token ids* (``PrefixIndex/contentHash(_:)``), so the
/// router never needs an engine's internal block hash to match a prompt; the engines' opaque
/// hashes only link a stored block to its parent and name blocks for removal. Each node holds
/// the workers that have that block. Events from vLLM engines feed it the same way.
///
/// Engines' events name an adapter only by `lora_name`; the digest comes from the caller, who
/// knows what each worker holds (``apply(_:from:digests:)``). Blocks computed with other
/// weights under the same name are thus another tree, and never count for a worker that holds
/// the new weights.
///
/// Workers are numbered inside the index (a slot each, reused after ``removeWorker(_:)``), so
/// storing a block and matching a prompt compare small integers, not worker names.
public struct PrefixIndex: Sendable {
    /// Whose computation a tree holds: an adapter by name and content digest, or the base model
    /// (both nil). A digest is nil too when the router did not know it when the blocks arrived.
    public struct Namespace: Hashable, Sendable {
        public var adapter: String?
        public var digest: ContentDigest?

        /// An empty `adapter` is the base model, as vLLM's events may name it.
        public init(adapter: String?, digest: ContentDigest?) {
            self.adapter = adapter?.isEmpty == true ? nil : adapter
            self.digest = digest
        }
    }

    final class Node: @unchecked Sendable {
        // @unchecked Sendable: nodes live inside one PrefixIndex value, which one actor owns.
        /// The first child, and the others by key: most blocks have one child (a prompt
        /// goes on), so most lookups compare one key instead of hashing it.
        private(set) var firstChild: Node?
        private var otherChildren: [UInt64: Node] = [:]
        /// Slots of the workers holding this block, ascending.
        var holders: ContiguousArray<Int32> = []
        // unowned, not weak: a weak reference gives every node a side table, and then every
        // retain of a node takes the slow path. A parent outlives its children: it is pruned
        // only once it has none (and roots are dropped only without children).
        unowned let parent: Node?
        let key: UInt64
        /// Which tree (namespace) the node is in.
        let tree: Int
        init(key: UInt64, parent: Node?, tree: Int) {
            self.key = key
            self.parent = parent
            self.tree = tree
        }

        func insert(_ slot: Int32) {
            var low = 0, high = holders.count
            while low < high {
                let mid = (low + high) / 2
                if holders[mid] < slot { low = mid + 1 } else { high = mid }
            }
            if low == holders.count || holders[low] != slot { holders.insert(slot, at: low) }
        }

        func remove(_ slot: Int32) {
            if let at = holders.firstIndex(of: slot) { holders.remove(at: at) }
        }

        func holds(_ slot: Int32) -> Bool {
            var low = 0, high = holders.count
            while low < high {
                let mid = (low + high) / 2
                if holders[mid] < slot { low = mid + 1 } else { high = mid }
            }
            return low < holders.count && holders[low] == slot
        }

        func child(_ key: UInt64) -> Node? {
            if let first = firstChild, first.key == key { return first }
            return otherChildren.isEmpty ? nil : otherChildren[key]
        }

        func add(_ child: Node) {
            if firstChild == nil { firstChild = child } else { otherChildren[child.key] = child }
        }

        func removeChild(_ key: UInt64) {
            if firstChild?.key == key {
                firstChild = otherChildren.popFirst()?.value
            } else {
                otherChildren[key] = nil
            }
        }
    }

    public let blockSize: Int
    private var roots: [Namespace: Node] = [:]
    private var nextTree = 0
    private var slots: [WorkerID: Int32] = [:]
    /// Per slot: its worker, and its engine's block hash → the node of that block.
    private var slotWorkers: [WorkerID?] = []
    private var blocksOfSlot: [[KVBlockHash: Node]] = []
    private var freeSlots: [Int32] = []

    public init(blockSize: Int) { self.blockSize = blockSize }

    /// The key of a block's node: a multiply–xorshift chain over its token ids. Keys live only
    /// inside the router (engines' events and prompts are both hashed here), and a collision can
    /// only steer a request to a worker that lacks the block, never change an answer; so the key
    /// is chosen for speed: one multiplication per token (byte-wise FNV-1a took four, and was a
    /// tenth of a decision).
    public static func contentHash(_ tokens: ArraySlice<Int>) -> UInt64 {
        var hash = keySeed
        for token in tokens { hash = keyStep(hash, token) }
        return hash
    }

    static let keySeed: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    static func keyStep(_ hash: UInt64, _ token: Int) -> UInt64 {
        let x = (hash ^ UInt64(UInt32(truncatingIfNeeded: token))) &* 0x9E37_79B9_7F4A_7C15
        return x ^ (x >> 29)
    }

    /// The node keys of `tokens`' full blocks of `blockSize` tokens, for ``overlap(keys:in:)``
    /// and ``storeChain(keys:hashes:in:worker:)``.
    ///
    /// The same values as ``contentHash(_:)`` of each block, four blocks at a time: each key is
    /// one chain of dependent multiplications, and four independent chains keep the multiplier
    /// busy.
    public static func blockKeys(_ tokens: [Int], blockSize: Int) -> [UInt64] {
        guard blockSize > 0 else { return [] }
        let blocks = tokens.count / blockSize
        var keys = [UInt64](repeating: 0, count: blocks)
        tokens.withUnsafeBufferPointer { t in
            var block = 0
            while block + 4 <= blocks {
                let start = block * blockSize
                var h0 = keySeed, h1 = h0, h2 = h0, h3 = h0
                for j in start..<start + blockSize {
                    h0 = keyStep(h0, t[j])
                    h1 = keyStep(h1, t[j + blockSize])
                    h2 = keyStep(h2, t[j + 2 * blockSize])
                    h3 = keyStep(h3, t[j + 3 * blockSize])
                }
                (keys[block], keys[block + 1], keys[block + 2], keys[block + 3]) = (h0, h1, h2, h3)
                block += 4
            }
            for rest in block..<blocks { keys[rest] = contentHash(tokens[rest * blockSize..<(rest + 1) * blockSize]) }
        }
        return keys
    }

    /// Blocks the index holds for `worker`.
    public func blockCount(of worker: WorkerID) -> Int { slots[worker].map { blocksOfSlot[Int($0)].count } ?? 0 }

    public var workers: [WorkerID] { slots.filter { !blocksOfSlot[Int($0.value)].isEmpty }.keys.sorted() }

    /// Applies one worker's events. Returns false when a stored block's parent is unknown (a
    /// gap: the caller should ask that worker for a snapshot).
    /// - Parameter digests: the content digest of each adapter the worker holds, by name; a
    ///   chain under a name not in it goes to that name's tree without a digest.
    @discardableResult
    public mutating func apply(_ events: [KVEvent], from worker: WorkerID, digests: [String: ContentDigest] = [:]) -> Bool {
        var consistent = true
        for event in events {
            switch event {
            case .blockStored(let stored):
                consistent = store(stored, worker: worker, digests: digests) && consistent
            case .blockRemoved(let removed):
                guard let slot = slots[worker] else { continue }
                for hash in removed.blockHashes { remove(hash, slot: slot) }
            case .allBlocksCleared:
                removeWorker(worker)
            }
        }
        return consistent
    }

    private mutating func store(_ event: KVEvent.BlockStored, worker: WorkerID, digests: [String: ContentDigest]) -> Bool {
        let size = event.blockSize > 0 ? event.blockSize : blockSize
        let slot = slot(of: worker)
        var parent: Node
        if let parentHash = event.parentBlockHash {
            guard let known = blocksOfSlot[Int(slot)][parentHash] else { return false }
            parent = known
        } else {
            parent = root(Namespace(adapter: event.loraName, digest: event.loraName.flatMap { digests[$0] }))
        }
        let keys = Self.blockKeys(event.tokenIDs, blockSize: size)
        for (index, hash) in event.blockHashes.enumerated() {
            guard index < keys.count else { return false }
            parent = store(key: keys[index], hash: hash, under: parent, slot: slot)
        }
        return true
    }

    /// Stores a chain of blocks from a root, their node keys computed already
    /// (``blockKeys(_:blockSize:)``): what the router records of its own decisions.
    ///
    /// The hashes must be a function of the chain (the router's own are: adapter name and
    /// tokens, ``ApproximateCache``), so a block the worker holds already is named by its hash
    /// already: a prompt routed again to the same worker walks its chain without rewriting it
    /// (most decisions, and 30% of a decision's time when it did).
    public mutating func storeChain(keys: some Collection<UInt64>, hashes: [KVBlockHash], in namespace: Namespace, worker: WorkerID) {
        let slot = slot(of: worker)
        var parent = root(namespace)
        for (key, hash) in zip(keys, hashes) {
            if let child = parent.child(key), child.holds(slot) {
                parent = child
                continue
            }
            parent = store(key: key, hash: hash, under: parent, slot: slot)
        }
    }

    private mutating func store(key: UInt64, hash: KVBlockHash, under parent: Node, slot: Int32) -> Node {
        let node = parent.child(key) ?? {
            let created = Node(key: key, parent: parent, tree: parent.tree)
            parent.add(created)
            return created
        }()
        node.insert(slot)
        // A hash the worker used for another block before (the router's own chains name
        // blocks by adapter name and tokens, whatever the weights) no longer names that one.
        if let previous = blocksOfSlot[Int(slot)].updateValue(node, forKey: hash), previous !== node {
            previous.remove(slot)
            prune(previous)
        }
        return node
    }

    private mutating func root(_ namespace: Namespace) -> Node {
        if let root = roots[namespace] { return root }
        let root = Node(key: 0, parent: nil, tree: nextTree)
        nextTree += 1
        roots[namespace] = root
        return root
    }

    private mutating func slot(of worker: WorkerID) -> Int32 {
        if let slot = slots[worker] { return slot }
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slotWorkers[Int(slot)] = worker
        } else {
            slot = Int32(slotWorkers.count)
            slotWorkers.append(worker)
            blocksOfSlot.append([:])
        }
        slots[worker] = slot
        return slot
    }

    private mutating func remove(_ hash: KVBlockHash, slot: Int32) {
        guard let node = blocksOfSlot[Int(slot)].removeValue(forKey: hash) else { return }
        node.remove(slot)
        prune(node)
    }

    /// Forgets every block of `worker` (it died, restarted or cleared its cache).
    public mutating func removeWorker(_ worker: WorkerID) {
        guard let slot = slots.removeValue(forKey: worker) else { return }
        let blocks = blocksOfSlot[Int(slot)]
        blocksOfSlot[Int(slot)] = [:]
        slotWorkers[Int(slot)] = nil
        freeSlots.append(slot)
        for node in blocks.values {
            node.remove(slot)
            prune(node)
        }
    }

    /// Forgets `worker`'s blocks in one namespace (it unloaded the adapter, or holds other
    /// weights under its name now).
    public mutating func removeBlocks(in namespace: Namespace, of worker: WorkerID) {
        guard let root = roots[namespace], let slot = slots[worker] else { return }
        let doomed = blocksOfSlot[Int(slot)].filter { $0.value.tree == root.tree }
        for (hash, node) in doomed {
            blocksOfSlot[Int(slot)][hash] = nil
            node.remove(slot)
            prune(node)
        }
        if root.firstChild == nil { roots[namespace] = nil }
    }

    /// Drops empty leaves up the tree.
    private func prune(_ start: Node) {
        var node: Node? = start
        while let current = node, current.holders.isEmpty, current.firstChild == nil, let parent = current.parent {
            parent.removeChild(current.key)
            node = parent
        }
    }

    /// For each worker, how many leading full blocks of `tokens` it holds under `adapter` with
    /// the weights of `digest`, in blocks of `blockSize` tokens (the engines' block size; the
    /// index's by default). Blocks of different sizes have different keys, so engines with
    /// other block sizes can share an index.
    public func overlap(tokens: [Int], adapter: String?, digest: ContentDigest? = nil, blockSize: Int? = nil) -> [WorkerID: Int] {
        let blockSize = blockSize ?? self.blockSize
        guard roots[Namespace(adapter: adapter, digest: digest)] != nil, blockSize > 0 else { return [:] }
        return overlap(keys: Self.blockKeys(tokens, blockSize: blockSize), in: Namespace(adapter: adapter, digest: digest))
    }

    /// For each worker, how many of the leading blocks `keys` (``blockKeys(_:blockSize:)``) it
    /// holds in `namespace`.
    public func overlap(keys: [UInt64], in namespace: Namespace) -> [WorkerID: Int] {
        guard var node = roots[namespace] else { return [:] }
        var result: [WorkerID: Int] = [:]
        // A worker counts only while it holds every block from the root down: `alive` holds the
        // slots that do, and a slot leaving it is credited with the depth it reached.
        var alive: ContiguousArray<Int32> = []
        var depth = 0
        for key in keys {
            guard let child = node.child(key) else { break }
            let holders = depth == 0 ? child.holders : Self.intersection(alive, child.holders)
            if holders.isEmpty { break }
            if holders.count < alive.count { credit(Self.difference(alive, holders), depth: depth, in: &result) }
            alive = holders
            depth += 1
            node = child
        }
        credit(alive, depth: depth, in: &result)
        return result
    }

    private func credit(_ slots: ContiguousArray<Int32>, depth: Int, in result: inout [WorkerID: Int]) {
        for slot in slots { if let worker = slotWorkers[Int(slot)] { result[worker] = depth } }
    }

    /// The common elements of two ascending arrays.
    private static func intersection(_ a: ContiguousArray<Int32>, _ b: ContiguousArray<Int32>) -> ContiguousArray<Int32> {
        if a == b { return a }
        var out: ContiguousArray<Int32> = []
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                out.append(a[i])
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return out
    }

    /// The elements of ascending `a` not in its ascending subset `b`.
    private static func difference(_ a: ContiguousArray<Int32>, _ b: ContiguousArray<Int32>) -> ContiguousArray<Int32> {
        var out: ContiguousArray<Int32> = []
        var j = 0
        for x in a {
            if j < b.count && b[j] == x { j += 1 } else { out.append(x) }
        }
        return out
    }
}
