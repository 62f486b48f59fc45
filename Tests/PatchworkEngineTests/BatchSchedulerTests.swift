import Foundation
import PatchworkCore
import PatchworkEngine
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// Many requests and adapters in one batch, against the single-request references of transformers + PEFT.
@Suite struct BatchSchedulerTests {
    static let model = Result { try Model(path: TestPaths.fixtures.appendingPathComponent("models/tiny-llama").path) }
    static let references = TinyModelTests.references["llama"]

    static func adapter(_ name: String, model: Model) throws -> ResidentAdapter {
        let directory = TestPaths.fixtures.appendingPathComponent("models/tiny-llama-adapters/\(name)")
        let weights = try EngineReferences.adapter(directory, model: model)
        let digest = ContentDigest(bytes: distinctDigest(name))
        let adapterName = try AdapterName(name)
        return ResidentAdapter(name: adapterName, weights: weights, namespace: .adapter(name: adapterName, digest: digest))
    }

    static func greedy(_ tokens: Int) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        p.maxTokens = tokens
        p.ignoreEOS = true
        p.topLogprobs = 1
        return p
    }

    /// Runs the scheduler to completion; tokens and logprobs per request id.
    static func run(_ scheduler: BatchScheduler) -> [String: [(id: Int, logprob: Float)]] {
        var result: [String: [(id: Int, logprob: Float)]] = [:]
        var steps = 0
        while scheduler.hasWork && steps < 10_000 {
            for output in scheduler.step() {
                if let token = output.token { result[output.requestID.rawValue, default: []].append((token.id, token.logprob)) }
            }
            steps += 1
        }
        return result
    }

    /// All 15 reference cases (3 prompts × base and 4 adapters) in one batch: every request's
    /// greedy tokens and logprobs equal what transformers + PEFT computed for it alone.
    @Test func mixedAdapterBatchEqualsSingleRequests() throws {
        let model = try Self.model.get()
        let entry = try #require(Self.references)
        let scheduler = BatchScheduler(
            transformer: Transformer(config: model.config, weights: model.weights), tokenizer: model.tokenizer, blockCount: 64,
            maxBatchTokens: 128, maxSequences: 32
        )
        var adapters: [String: ResidentAdapter] = [:]
        var expected: [String: [EngineReferences.Step]] = [:]
        for (p, prompt) in entry.prompts.enumerated() {
            for (name, steps) in prompt.steps {
                let id = "\(p)-\(name)"
                if name != "base" && adapters[name] == nil { adapters[name] = try Self.adapter(name, model: model) }
                try scheduler.submit(GenerationRequest(id: requestID(id), promptIDs: prompt.ids, parameters: Self.greedy(steps.count), adapter: adapters[name]))
                expected[id] = steps
            }
        }
        #expect(expected.count == 15)
        let outputs = Self.run(scheduler)
        var compared = 0, total = 0
        for (id, steps) in expected {
            let got = try #require(outputs[id], "\(id) produced nothing")
            #expect(got.count == steps.count)
            total += steps.count
            // Generated freely, so a sequence is comparable up to its first difference, which
            // may only be a near-tie of the reference's top two (then the contexts part).
            for (step, token) in zip(steps, got) {
                guard token.id == step.token else {
                    #expect(step.margin <= 1e-3, "\(id): token \(token.id) instead of \(step.token) with a margin of \(step.margin)")
                    break
                }
                #expect(abs(token.logprob - step.logprob) <= 1e-3, "\(id): \(token.logprob) vs \(step.logprob)")
                compared += 1
            }
        }
        // Near-ties are rare: nearly every step is compared.
        #expect(compared * 10 >= total * 9, "only \(compared) of \(total) steps compared")
        #expect(scheduler.pool.usedBlocks == 0)
    }

    /// A second request sharing a long prefix reuses its cached blocks and still produces the
    /// same tokens as a cold run.
    @Test func prefixCacheHitGivesTheSameTokens() throws {
        let model = try Self.model.get()
        let prompt = model.tokenizer.encode(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 6), addBOS: false)
        #expect(prompt.count > 48)
        let transformer = Transformer(config: model.config, weights: model.weights)
        let cold = BatchScheduler(transformer: transformer, tokenizer: model.tokenizer, blockCount: 64, maxBatchTokens: 64)
        try cold.submit(GenerationRequest(id: requestID("cold"), promptIDs: prompt, parameters: Self.greedy(8)))
        let reference = Self.run(cold)["cold"]!

        let warm = BatchScheduler(transformer: transformer, tokenizer: model.tokenizer, blockCount: 64, maxBatchTokens: 64)
        try warm.submit(GenerationRequest(id: requestID("first"), promptIDs: prompt, parameters: Self.greedy(8)))
        _ = Self.run(warm)
        try warm.submit(GenerationRequest(id: requestID("second"), promptIDs: prompt, parameters: Self.greedy(8)))
        var cached = 0
        var second: [(id: Int, logprob: Float)] = []
        while warm.hasWork {
            for output in warm.step() {
                cached = output.cachedPromptTokens
                if let token = output.token { second.append((token.id, token.logprob)) }
            }
        }
        #expect(cached == (prompt.count - 1) / 16 * 16)
        #expect(second.map(\.id) == reference.map(\.id))
        for (a, b) in zip(second, reference) { #expect(abs(a.logprob - b.logprob) <= 1e-4) }
    }

    /// Blocks cached under an adapter are never hit by other weights under the same name.
    @Test func aReloadUnderTheSameNameNeverHitsStaleBlocks() throws {
        var pool = BlockPool(blockSize: 4, blockCount: 16)
        let name = try AdapterName("same-name")
        let old = CacheNamespace.adapter(name: name, digest: ContentDigest(bytes: Array(repeating: 1, count: 32)))
        let new = CacheNamespace.adapter(name: name, digest: ContentDigest(bytes: Array(repeating: 2, count: 32)))
        let tokens = Array(0..<13)
        var first = try pool.admit(tokens: tokens, namespace: old)
        pool.commit(&first, tokens: tokens, computedTokens: tokens.count)
        pool.release(first)
        #expect(try pool.admit(tokens: tokens, namespace: new).cachedTokens == 0)
        #expect(try pool.admit(tokens: tokens, namespace: old).cachedTokens == 12)
        #expect(try pool.admit(tokens: tokens, namespace: .base(modelIdentity: "m")).cachedTokens == 0)
    }

    /// With a pool too small for every request at once, requests are preempted and recomputed,
    /// and each still produces exactly what it produces alone.
    @Test func preemptionUnderATinyPoolCompletesEveryRequestCorrectly() throws {
        let model = try Self.model.get()
        let transformer = Transformer(config: model.config, weights: model.weights)
        let prompts = ["The capital of France is", "def add(a, b):\n    return", "Ünïcödé 🙂 and 42", "I'll say it's what"].map {
            model.tokenizer.encode($0, addBOS: false)
        }
        var alone: [String: [Int]] = [:]
        for (i, prompt) in prompts.enumerated() {
            let single = BatchScheduler(transformer: transformer, tokenizer: model.tokenizer, blockSize: 4, blockCount: 64, maxBatchTokens: 64)
            try single.submit(GenerationRequest(id: requestID("\(i)"), promptIDs: prompt, parameters: Self.greedy(24)))
            alone["\(i)"] = Self.run(single)["\(i)"]!.map(\.id)
        }
        // 12 blocks of 4 tokens: each request needs up to 9 blocks, so they cannot all run together.
        let tight = BatchScheduler(transformer: transformer, tokenizer: model.tokenizer, blockSize: 4, blockCount: 12, maxBatchTokens: 64)
        for (i, prompt) in prompts.enumerated() { try tight.submit(GenerationRequest(id: requestID("\(i)"), promptIDs: prompt, parameters: Self.greedy(24))) }
        let together = Self.run(tight)
        #expect(tight.preemptions > 0)
        for (id, tokens) in alone { #expect(together[id]?.map(\.id) == tokens, "request \(id)") }
        #expect(tight.pool.usedBlocks == 0)
    }

    @Test func cancellationFreesBlocksAtOnce() throws {
        let model = try Self.model.get()
        let scheduler = BatchScheduler(transformer: Transformer(config: model.config, weights: model.weights), tokenizer: model.tokenizer, blockCount: 32)
        try scheduler.submit(GenerationRequest(id: requestID("a"), promptIDs: Array(repeating: 5, count: 40), parameters: Self.greedy(50)))
        _ = scheduler.step()
        #expect(scheduler.pool.usedBlocks == 3)
        #expect(scheduler.cancel(requestID("a")))
        #expect(scheduler.pool.usedBlocks == 0)
        #expect(!scheduler.hasWork)
        #expect(!scheduler.cancel(requestID("a")))
    }

    @Test func requestsBeyondTheContextOrPoolAreRefused() throws {
        let model = try Self.model.get()
        let scheduler = BatchScheduler(transformer: Transformer(config: model.config, weights: model.weights), tokenizer: model.tokenizer, blockCount: 4)
        #expect { try scheduler.submit(GenerationRequest(id: requestID("x"), promptIDs: Array(repeating: 5, count: 60), parameters: Self.greedy(10))) } throws: {
            "\($0)".contains("exceeds the KV cache")
        }
        #expect { try scheduler.submit(GenerationRequest(id: requestID("y"), promptIDs: [], parameters: Self.greedy(1))) } throws: { "\($0)".contains("no tokens") }
        #expect { try scheduler.submit(GenerationRequest(id: requestID("z"), promptIDs: [100_000], parameters: Self.greedy(1))) } throws: { "\($0)".contains("outside the vocabulary") }
    }
}

/// 32 bytes that differ between names: a stand-in content digest for test adapters.
func distinctDigest(_ name: String) -> [UInt8] {
    var bytes = Array(repeating: UInt8(0), count: 32)
    for (i, b) in name.utf8.enumerated() { bytes[i % 32] ^= b &+ UInt8(truncatingIfNeeded: i) }
    return bytes
}
