import Foundation
import PatchworkCore
import PatchworkTesting
import Testing

/// KV events against batches encoded by msgspec with vLLM's schema (Tests/Fixtures/make_vectors.py).
struct KVEventTests {
    struct Vector: Decodable {
        struct Event: Decodable {
            var type: String
            var block_hashes: [String]?
            var parent_block_hash: String?
            var token_ids: [Int]?
            var block_size: Int?
            var lora_id: Int?
            var medium: String?
            var lora_name: String?
        }
        struct Batch: Decodable { var ts: Double; var data_parallel_rank: Int?; var events: [Event] }
        var form: String
        var hex: String
        var expected: Batch
        /// Whether our encoder must reproduce these bytes exactly (the current form, known fields only).
        var canonical: Bool
    }

    static let vectors: [Vector] = (try? JSONDecoder().decode([Vector].self, from: TestPaths.vectors("kv_events"))) ?? []

    static func hash(_ text: String) -> KVBlockHash {
        if text.count == 64 { return .bytes(bytes(hex: text)) }
        return text.hasPrefix("-") ? .negative(Int64(text)!) : .integer(UInt64(text)!)
    }

    static func expectedBatch(_ batch: Vector.Batch) -> KVEventBatch {
        KVEventBatch(timestamp: batch.ts, events: batch.events.map { e in
            switch e.type {
            case "BlockStored":
                return .blockStored(.init(
                    blockHashes: e.block_hashes!.map(hash), parentBlockHash: e.parent_block_hash.map(hash), tokenIDs: e.token_ids!,
                    blockSize: e.block_size!, loraID: e.lora_id, medium: e.medium, loraName: e.lora_name
                ))
            case "BlockRemoved": return .blockRemoved(.init(blockHashes: e.block_hashes!.map(hash), medium: e.medium))
            default: return .allBlocksCleared
            }
        }, dataParallelRank: batch.data_parallel_rank)
    }

    @Test func decodesBothOfVLLMsForms() throws {
        #expect(Self.vectors.count == 4)
        #expect(Set(Self.vectors.map(\.form)) == ["map", "array"])
        for vector in Self.vectors {
            let batch = try KVEventBatch(decoding: bytes(hex: vector.hex))
            #expect(batch == Self.expectedBatch(vector.expected), "\(vector.form) form")
        }
    }

    @Test func encodesTheCurrentFormByteForByte() {
        for vector in Self.vectors where vector.canonical {
            #expect(hex(Self.expectedBatch(vector.expected).encoded()) == vector.hex)
        }
    }

    @Test func frameCarriesABigEndianSequence() throws {
        let frame = KVEventFrame(topic: Array("kv".utf8), sequence: 258, payload: [1, 2])
        #expect(frame.frames[1] == [0, 0, 0, 0, 0, 0, 1, 2])
        #expect(try KVEventFrame(frames: frame.frames) == frame)
        #expect(throws: KVEventDecodingError.self) { try KVEventFrame(frames: [[1], [0, 1]]) }
    }

    @Test func rejectsUnknownEvents() {
        let batch = MessagePackValue.map([
            (.string("ts"), .double(1)), (.string("events"), .array([.map([(.string("type"), .string("Teleported"))])])),
        ]).encoded()
        #expect { try KVEventBatch(decoding: batch) } throws: { "\($0)".contains("Teleported") }
    }
}
