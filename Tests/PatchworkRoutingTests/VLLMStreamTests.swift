import Foundation
import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

/// A stream framed and encoded as a vLLM engine publishes it (msgspec structs after vLLM's
/// published schema, 32-byte block hashes, `[topic, sequence, payload]` frames), fed through
/// the router's decoding into the prefix index: the overlaps equal those Python derives from the
/// same stream with a plain model of the cache (Tests/Fixtures/make_vectors.py).
struct VLLMStreamTests {
    struct Stream: Decodable {
        struct Query: Decodable { var tokens: [Int]; var lora_name: String?; var overlap: Int }
        var block_size: Int
        var frames: [[String]]
        var queries: [Query]
    }

    @Test func aVLLMStreamFeedsTheIndex() throws {
        let stream = try JSONDecoder().decode(Stream.self, from: TestPaths.vectors("vllm_stream"))
        var index = PrefixIndex(blockSize: stream.block_size)
        let engine = WorkerID("vllm-0")
        for (expected, hexFrames) in stream.frames.enumerated() {
            let frame = try KVEventFrame(frames: hexFrames.map { try #require(Hex.decode($0)) })
            #expect(String(decoding: frame.topic, as: UTF8.self) == "kv-events")
            #expect(frame.sequence == Int64(expected))
            let batch = try KVEventBatch(decoding: frame.payload)
            let consistent = index.apply(batch.events, from: engine)
            #expect(consistent, "batch \(expected) links to known parents")
        }
        #expect(stream.queries.count == 6)
        for query in stream.queries {
            #expect(index.overlap(tokens: query.tokens, adapter: query.lora_name)[engine] ?? 0 == query.overlap, "\(query.lora_name ?? "base"), \(query.tokens.count) tokens")
        }
    }
}
