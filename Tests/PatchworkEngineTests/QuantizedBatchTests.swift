import Foundation
import PatchworkCore
import PatchworkEngine
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// Batched = single on the real quantized files (`make llama-references`: SmolLM2 in every GGUF
/// type llama.cpp's quantizer writes, and Gemma-3-270M): requests with different adapters and
/// prompt lengths in one batch give the greedy tokens each gives alone.
///
/// Every row's activations are quantized on their own, the integer block sums are exact, and
/// the LoRA deltas, norms and decode attention are computed row by row in a fixed order: a row
/// does not depend on its neighbours, so the logprobs are the same to the bit. (Int8
/// activations turn any last-bit difference into different roundings downstream: a BLAS LoRA
/// product, rounding differently for 1 and for 4 rows, moved logprobs by up to 2.2 here.)
@Suite(.enabled(if: TestPaths.llamaReferences != nil, "make llama-references, then set PATCHWORK_TEST_LLAMA_REFERENCES"))
struct QuantizedBatchTests {
    static let smolAdapters = ["smollm2-qv-r8", "smollm2-all-r4"].map { TestPaths.fixtures.appendingPathComponent("adapters/\($0)") }

    static func resident(_ directory: URL, model: Model) throws -> ResidentAdapter {
        let name = try AdapterName(directory.lastPathComponent)
        return ResidentAdapter(
            name: name, weights: try EngineReferences.adapter(directory, model: model),
            namespace: .adapter(name: name, digest: ContentDigest(bytes: distinctDigest(directory.lastPathComponent)))
        )
    }

    static func files() -> [(label: String, path: String, adapters: [URL])] {
        guard let references = TestPaths.llamaReferences else { return [] }
        let smol = ["Q8_0", "Q4_0", "Q5_0", "Q4_K_M", "Q5_K_M", "Q6_K"].map { name in
            (name, references.appendingPathComponent("\(name).gguf").path, smolAdapters)
        }
        return [("Q4_1", TestPaths.model.path, smolAdapters)] + smol
            + [("gemma3 Q4_K_M", references.deletingLastPathComponent().appendingPathComponent("gemma-3-270m-q4_k_m.gguf").path,
                [references.appendingPathComponent("gemma3-lora")])]
    }

    @Test(arguments: files().map(\.label))
    func aMixedAdapterBatchGivesEachRequestsTokensAlone(label: String) throws {
        let file = try #require(Self.files().first { $0.label == label })
        try #require(FileManager.default.fileExists(atPath: file.path), "\(file.path): make llama-references")
        let model = try Model(path: file.path)
        let transformer = Transformer(config: model.config, weights: model.weights)
        let adapters = try file.adapters.map { try Self.resident($0, model: model) }
        let texts = ["The capital of France is", "def add(a, b):\n    return a", "Once upon a time, in a small village by the sea, there lived",
                     "1, 2, 3, 5, 8,"]
        // Each prompt with the base model and with each adapter: 12 (or 8) requests.
        var requests: [GenerationRequest] = []
        for (p, text) in texts.enumerated() {
            for a in -1..<adapters.count {
                requests.append(GenerationRequest(
                    id: requestID("\(p)-\(a)"), promptIDs: model.tokenizer.encode(text), parameters: BatchSchedulerTests.greedy(8),
                    adapter: a < 0 ? nil : adapters[a]
                ))
            }
        }
        var alone: [String: [(id: Int, logprob: Float)]] = [:]
        for request in requests {
            let single = BatchScheduler(
                transformer: transformer, tokenizer: model.tokenizer, blockCount: 16, maxBatchTokens: 64, maxLoRARank: 16,
                kvCacheType: model.defaultKVCacheType
            )
            try single.submit(request)
            alone.merge(BatchSchedulerTests.run(single)) { $1 }
        }
        let batched = BatchScheduler(
            transformer: transformer, tokenizer: model.tokenizer, blockCount: 16 * requests.count, maxBatchTokens: 512,
            maxSequences: requests.count, maxLoRARank: 16, kvCacheType: model.defaultKVCacheType
        )
        #expect(model.defaultKVCacheType == .f16, "quantized weights get llama.cpp's f16 cache, as the worker runs them")
        for request in requests { try batched.submit(request) }
        let together = BatchSchedulerTests.run(batched)
        var worst: Float = 0
        for request in requests {
            let id = request.id.rawValue
            let (mine, theirs) = (try #require(together[id]), try #require(alone[id]))
            #expect(mine.map(\.id) == theirs.map(\.id), "\(label) request \(id)")
            for (a, b) in zip(mine, theirs) { worst = max(worst, abs(a.logprob - b.logprob)) }
        }
        // The adapters change the answers' logprobs (else this would compare the base model only).
        let changed = texts.indices.allSatisfy { p in
            (0..<adapters.count).allSatisfy { a in
                zip(together["\(p)-\(a)"]!, together["\(p)--1"]!).contains { abs($0.logprob - $1.logprob) > 1e-3 }
            }
        }
        #expect(changed, "\(label): an adapter left an answer as the base model gives it")
        print("\(label): \(requests.count) requests, worst |Δ logprob| batched against alone \(worst)")
        #expect(worst == 0, "rows are computed alike in a batch and alone, to the bit")
    }
}
