import PatchworkCore

/// Which workers hold which cached prompt prefixes, from their KV events: a radix tree per
/// adapter (`lora_name`; the base model is its own), one node per block.
///
/// A node's key is a hash of its block's *token ids* (``PrefixIndex/contentHash(_:)``), so the
/// router never needs an engine's internal block hash to match a prompt; the engines' opaque
/// hashes only link a stored block to its parent and name blocks for removal. Each node holds
/// the set of workers that have that block. Events from vLLM engines feed it the same way.
public struct PrefixIndex: Sendable {
    final class Node: @unchecked Sendable {
        // @unchecked Sendable: nodes live inside one PrefixIndex value, which one actor owns.
        var children: [UInt64: Node] = [:]
        var workers: Set<WorkerID> = []
        weak var parent: Node?
        let key: UInt64
        init(key: UInt64, parent: Node?) {
            self.key = key
            self.parent = parent
        }
    }

    public let blockSize: Int
    private var roots: [String: Node] = [:]
    /// Per worker: its engine's block hash → the node of that block.
    private var blocksOfWorker: [WorkerID: [KVBlockHash: Node]] = [:]

    public init(blockSize: Int) { self.blockSize = blockSize }

    /// FNV-1a 64 over the token ids (4 bytes little-endian each): the key of a block's node.
    public static func contentHash(_ tokens: ArraySlice<Int>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for token in tokens {
            var t = UInt32(truncatingIfNeeded: token)
            for _ in 0..<4 {
                hash ^= UInt64(t & 0xff)
                hash &*= 0x0000_0100_0000_01b3
                t >>= 8
            }
        }
        return hash
    }

    /// Blocks the index holds for `worker`.
    public func blockCount(of worker: WorkerID) -> Int { blocksOfWorker[worker]?.count ?? 0 }

    public var workers: [WorkerID] { blocksOfWorker.keys.sorted() }

    /// Applies one worker's events. Returns false when a stored block's parent is unknown (a
    /// gap: the caller should ask that worker for a snapshot).
    @discardableResult
    public mutating func apply(_ events: [KVEvent], from worker: WorkerID) -> Bool {
        var consistent = true
        for event in events {
            switch event {
            case .blockStored(let stored):
                consistent = store(stored, worker: worker) && consistent
            case .blockRemoved(let removed):
                for hash in removed.blockHashes { remove(hash, worker: worker) }
            case .allBlocksCleared:
                removeWorker(worker)
            }
        }
        return consistent
    }

    private mutating func store(_ event: KVEvent.BlockStored, worker: WorkerID) -> Bool {
        let size = event.blockSize > 0 ? event.blockSize : blockSize
        var parent: Node
        if let parentHash = event.parentBlockHash {
            guard let known = blocksOfWorker[worker]?[parentHash] else { return false }
            parent = known
        } else {
            let namespace = event.loraName ?? ""
            if roots[namespace] == nil { roots[namespace] = Node(key: 0, parent: nil) }
            parent = roots[namespace]!
        }
        for (index, hash) in event.blockHashes.enumerated() {
            let start = index * size
            guard start + size <= event.tokenIDs.count else { return false }
            let key = Self.contentHash(event.tokenIDs[start..<start + size])
            let node = parent.children[key] ?? {
                let created = Node(key: key, parent: parent)
                parent.children[key] = created
                return created
            }()
            node.workers.insert(worker)
            blocksOfWorker[worker, default: [:]][hash] = node
            parent = node
        }
        return true
    }

    private mutating func remove(_ hash: KVBlockHash, worker: WorkerID) {
        guard let node = blocksOfWorker[worker]?.removeValue(forKey: hash) else { return }
        node.workers.remove(worker)
        prune(node)
    }

    /// Forgets every block of `worker` (it died, restarted or cleared its cache).
    public mutating func removeWorker(_ worker: WorkerID) {
        guard let blocks = blocksOfWorker.removeValue(forKey: worker) else { return }
        for node in blocks.values {
            node.workers.remove(worker)
            prune(node)
        }
    }

    /// Drops empty leaves up the tree.
    private func prune(_ start: Node) {
        var node: Node? = start
        while let current = node, current.workers.isEmpty, current.children.isEmpty, let parent = current.parent {
            parent.children[current.key] = nil
            node = parent
        }
    }

    /// For each worker, how many leading full blocks of `tokens` it holds under `adapter`, in
    /// blocks of `blockSize` tokens (the engines' block size; the index's by default). Blocks of
    /// different sizes have different keys, so engines with other block sizes can share an index.
    public func overlap(tokens: [Int], adapter: String?, blockSize: Int? = nil) -> [WorkerID: Int] {
        let blockSize = blockSize ?? self.blockSize
        guard var node = roots[adapter ?? ""], blockSize > 0 else { return [:] }
        var result: [WorkerID: Int] = [:]
        var alive: Set<WorkerID>?
        var depth = 0
        while (depth + 1) * blockSize <= tokens.count {
            let key = Self.contentHash(tokens[depth * blockSize..<(depth + 1) * blockSize])
            guard let child = node.children[key] else { break }
            // A worker counts only while it holds every block from the root down.
            let holders = alive.map { $0.intersection(child.workers) } ?? child.workers
            if holders.isEmpty { break }
            depth += 1
            for worker in holders { result[worker] = depth }
            alive = holders
            node = child
        }
        return result
    }
}
