/// KV-cache events in vLLM's wire format, so that a router can index a Patchwork worker and a
/// vLLM engine alike.
///
/// Pinned to the schema of vLLM's `vllm/distributed/kv_events.py` as of vLLM 0.11 and later:
/// msgspec structs encoded as maps, each event tagged by a leading `"type"` key holding its
/// class name, `None`-defaulted trailing fields omitted. Decoding also accepts the earlier
/// array form (`array_like=True`: `[tag, field, …]`, and `[ts, events, dp_rank]` batches).
public enum KVEvent: Sendable, Equatable {
    case blockStored(BlockStored)
    case blockRemoved(BlockRemoved)
    case allBlocksCleared

    /// Full blocks entered the cache, as a chain: each block's parent is the one before it, the
    /// first one's parent is `parentBlockHash`.
    public struct BlockStored: Sendable, Equatable {
        public var blockHashes: [KVBlockHash]
        public var parentBlockHash: KVBlockHash?
        /// The token ids of all the blocks, `blockSize` per block.
        public var tokenIDs: [Int]
        public var blockSize: Int
        /// Deprecated in vLLM in favour of `loraName`; kept for older consumers.
        public var loraID: Int?
        public var medium: String?
        public var loraName: String?

        public init(
            blockHashes: [KVBlockHash], parentBlockHash: KVBlockHash?, tokenIDs: [Int], blockSize: Int,
            loraID: Int?, medium: String?, loraName: String?
        ) {
            self.blockHashes = blockHashes
            self.parentBlockHash = parentBlockHash
            self.tokenIDs = tokenIDs
            self.blockSize = blockSize
            self.loraID = loraID
            self.medium = medium
            self.loraName = loraName
        }
    }

    /// Blocks left the cache.
    public struct BlockRemoved: Sendable, Equatable {
        public var blockHashes: [KVBlockHash]
        public var medium: String?

        public init(blockHashes: [KVBlockHash], medium: String?) {
            self.blockHashes = blockHashes
            self.medium = medium
        }
    }
}

/// An engine's opaque name for a cached block. vLLM sends integers (older versions, and
/// Patchwork workers) or 32-byte digests (newer versions). Integers keep their sign, as Python
/// does: a negative `hash()` and the unsigned number with the same bits are different hashes.
public enum KVBlockHash: Hashable, Sendable {
    /// Any non-negative integer.
    case integer(UInt64)
    /// A negative integer.
    case negative(Int64)
    case bytes([UInt8])
}

/// One publication: the events of one engine step.
public struct KVEventBatch: Sendable, Equatable {
    /// Seconds since the Unix epoch.
    public var timestamp: Double
    public var events: [KVEvent]
    public var dataParallelRank: Int?

    public init(timestamp: Double, events: [KVEvent], dataParallelRank: Int? = nil) {
        self.timestamp = timestamp
        self.events = events
        self.dataParallelRank = dataParallelRank
    }
}

/// Why bytes are not a KV event batch.
public struct KVEventDecodingError: Error, Equatable, CustomStringConvertible {
    public let reason: String
    public var description: String { "invalid KV event batch: \(reason)" }
}

extension KVEventBatch {
    /// The batch in vLLM's current map form.
    public func encoded() -> [UInt8] {
        var fields: [(MessagePackValue, MessagePackValue)] = [
            (.string("ts"), .double(timestamp)),
            (.string("events"), .array(events.map(\.messagePackValue))),
        ]
        if let rank = dataParallelRank { fields.append((.string("data_parallel_rank"), .int(Int64(rank)))) }
        return MessagePackValue.map(fields).encoded()
    }

    /// Reads a batch in either of vLLM's forms.
    public init(decoding bytes: [UInt8]) throws(KVEventDecodingError) {
        let value: MessagePackValue
        do { value = try MessagePackValue(decoding: bytes) } catch { throw KVEventDecodingError(reason: "\(error)") }
        var ts: MessagePackValue?, events: MessagePackValue?, rank: MessagePackValue?
        switch value {
        case .map:
            (ts, events, rank) = (value["ts"], value["events"], value["data_parallel_rank"])
        case .array(let items) where items.count >= 2:
            (ts, events, rank) = (items[0], items[1], items.count > 2 ? items[2] : nil)
        default:
            throw KVEventDecodingError(reason: "expected a map or an array")
        }
        guard let timestamp = ts?.doubleValue else { throw KVEventDecodingError(reason: "no timestamp") }
        guard case .array(let items)? = events else { throw KVEventDecodingError(reason: "no event list") }
        self.timestamp = timestamp
        self.events = try items.map { item throws(KVEventDecodingError) in try KVEvent(value: item) }
        switch rank {
        case nil, .nil_?: dataParallelRank = nil
        case let r?:
            guard let int = r.int64Value else { throw KVEventDecodingError(reason: "data_parallel_rank is not an integer") }
            dataParallelRank = Int(int)
        }
    }
}

extension KVEvent {
    var messagePackValue: MessagePackValue {
        switch self {
        case .blockStored(let e):
            return .map([
                (.string("type"), .string("BlockStored")),
                (.string("block_hashes"), .array(e.blockHashes.map(\.messagePackValue))),
                (.string("parent_block_hash"), e.parentBlockHash?.messagePackValue ?? .nil_),
                (.string("token_ids"), .array(e.tokenIDs.map { .int(Int64($0)) })),
                (.string("block_size"), .int(Int64(e.blockSize))),
                (.string("lora_id"), e.loraID.map { .int(Int64($0)) } ?? .nil_),
                (.string("medium"), e.medium.map { .string($0) } ?? .nil_),
                (.string("lora_name"), e.loraName.map { .string($0) } ?? .nil_),
            ])
        case .blockRemoved(let e):
            return .map([
                (.string("type"), .string("BlockRemoved")),
                (.string("block_hashes"), .array(e.blockHashes.map(\.messagePackValue))),
                (.string("medium"), e.medium.map { .string($0) } ?? .nil_),
            ])
        case .allBlocksCleared:
            return .map([(.string("type"), .string("AllBlocksCleared"))])
        }
    }

    /// Names the fields of either form: map keys, or positions after the tag in the array form.
    private struct Fields {
        let value: MessagePackValue
        let order: [String]

        subscript(name: String) -> MessagePackValue? {
            if case .array(let items) = value {
                guard let index = order.firstIndex(of: name), index + 1 < items.count else { return nil }
                return items[index + 1]
            }
            return value[name]
        }
    }

    init(value: MessagePackValue) throws(KVEventDecodingError) {
        let tag: String?
        switch value {
        case .map: tag = value["type"]?.stringValue
        case .array(let items): tag = items.first?.stringValue
        default: tag = nil
        }
        switch tag {
        case "BlockStored":
            let f = Fields(value: value, order: ["block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium", "lora_name"])
            guard let hashes = f["block_hashes"], let tokens = f["token_ids"]?.arrayValue,
                  let blockSize = f["block_size"]?.int64Value
            else { throw KVEventDecodingError(reason: "BlockStored lacks block_hashes, token_ids or block_size") }
            var tokenIDs: [Int] = []
            tokenIDs.reserveCapacity(tokens.count)
            for t in tokens {
                guard let id = t.int64Value else { throw KVEventDecodingError(reason: "a token id is not an integer") }
                tokenIDs.append(Int(id))
            }
            self = .blockStored(BlockStored(
                blockHashes: try KVBlockHash.list(hashes),
                parentBlockHash: try f["parent_block_hash"].flatMap { v throws(KVEventDecodingError) in v == .nil_ ? nil : try KVBlockHash(value: v) },
                tokenIDs: tokenIDs,
                blockSize: Int(blockSize),
                loraID: f["lora_id"]?.int64Value.map { Int($0) },
                medium: f["medium"]?.stringValue,
                loraName: f["lora_name"]?.stringValue
            ))
        case "BlockRemoved":
            let f = Fields(value: value, order: ["block_hashes", "medium"])
            guard let hashes = f["block_hashes"] else { throw KVEventDecodingError(reason: "BlockRemoved lacks block_hashes") }
            self = .blockRemoved(BlockRemoved(blockHashes: try KVBlockHash.list(hashes), medium: f["medium"]?.stringValue))
        case "AllBlocksCleared":
            self = .allBlocksCleared
        default:
            throw KVEventDecodingError(reason: "unknown event tag \(tag ?? "<none>")")
        }
    }
}

extension KVBlockHash {
    var messagePackValue: MessagePackValue {
        switch self {
        case .integer(let u): return .uint(u)
        case .negative(let i): return .int(i)
        case .bytes(let b): return .binary(b)
        }
    }

    init(value: MessagePackValue) throws(KVEventDecodingError) {
        switch value {
        case .uint(let u): self = .integer(u)
        case .int(let i): self = i >= 0 ? .integer(UInt64(i)) : .negative(i)
        case .binary(let b): self = .bytes(b)
        default: throw KVEventDecodingError(reason: "a block hash is neither an integer nor bytes")
        }
    }

    static func list(_ value: MessagePackValue) throws(KVEventDecodingError) -> [KVBlockHash] {
        guard let items = value.arrayValue else { throw KVEventDecodingError(reason: "block_hashes is not a list") }
        return try items.map { v throws(KVEventDecodingError) in try KVBlockHash(value: v) }
    }
}

/// The ZeroMQ multipart frame vLLM publishes: `[topic, 8-byte big-endian sequence, payload]`.
public struct KVEventFrame: Sendable, Equatable {
    /// Topic prefix of a worker's load reports on the same socket (`load/<worker id>`, payload
    /// a MessagePack ``LoadMetrics``).
    public static let loadTopicPrefix = "load/"

    public var topic: [UInt8]
    public var sequence: Int64
    public var payload: [UInt8]

    public init(topic: [UInt8], sequence: Int64, payload: [UInt8]) {
        self.topic = topic
        self.sequence = sequence
        self.payload = payload
    }

    public var frames: [[UInt8]] {
        [topic, (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: sequence) >> (56 - 8 * UInt64($0))) }, payload]
    }

    public init(frames: [[UInt8]]) throws(KVEventDecodingError) {
        guard frames.count == 3, frames[1].count == 8 else {
            throw KVEventDecodingError(reason: "expected [topic, 8-byte sequence, payload], got \(frames.count) frames")
        }
        topic = frames[0]
        sequence = Int64(bitPattern: frames[1].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        payload = frames[2]
    }
}
