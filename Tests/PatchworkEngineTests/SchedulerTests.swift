import PatchworkCore
@testable import PatchworkEngine
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// The scheduler decides alone: tables of steps (what runs, how many tokens, who is preempted)
/// without a model; then the whole step against a scripted model runner.
struct SchedulerTests {
    static let base = CacheNamespace.base(modelIdentity: "test")

    static func request(_ id: String, prompt: Int, first: Int = 100, maxTokens: Int = 16) -> GenerationRequest {
        var parameters = SamplingParameters()
        parameters.maxTokens = maxTokens
        parameters.temperature = 0
        return GenerationRequest(id: requestID(id), promptIDs: Array(first..<first + prompt), parameters: parameters)
    }

    /// `id:count` of each chunk, in scheduling order.
    static func plan(_ chunks: [ScheduledChunk]) -> [String] { chunks.map { "\($0.sequence.id):\($0.count)" } }

    @Test func aLongPromptIsPrefilledInChunksWithinTheBudgetWhileOthersJoin() {
        let scheduler = Scheduler(blockSize: 4, blockCount: 64, maxBatchTokens: 8, maxSequences: 4, baseNamespace: Self.base)
        scheduler.enqueue(Self.request("long", prompt: 10))
        scheduler.enqueue(Self.request("short", prompt: 3, first: 500))
        var steps: [[String]] = []
        var completing: [[Bool]] = []
        for _ in 0..<3 {
            let chunks = scheduler.schedule()
            steps.append(Self.plan(chunks))
            completing.append(chunks.map(\.completesSequence))
            scheduler.computed(chunks)
            for chunk in chunks where chunk.completesSequence { chunk.sequence.append(7) }
        }
        #expect(steps == [["long:8"], ["long:2", "short:3"], ["long:1", "short:1"]])
        #expect(completing == [[false], [true, true], [true, true]])
    }

    @Test func admissionStopsAtMaxSequences() {
        let scheduler = Scheduler(blockSize: 4, blockCount: 64, maxBatchTokens: 64, maxSequences: 2, baseNamespace: Self.base)
        for (i, id) in ["a", "b", "c"].enumerated() { scheduler.enqueue(Self.request(id, prompt: 2, first: 100 * (i + 1))) }
        #expect(Self.plan(scheduler.schedule()) == ["a:2", "b:2"])
        #expect(scheduler.runningCount == 2 && scheduler.waitingCount == 1)
    }

    @Test func runningOutOfBlocksPreemptsTheNewestAndRecomputesItLater() {
        // 4 blocks of 4 tokens: two 6-token prompts take 2 blocks each; the first decode past 8
        // tokens needs a fifth.
        let scheduler = Scheduler(blockSize: 4, blockCount: 4, maxBatchTokens: 64, maxSequences: 4, baseNamespace: Self.base)
        scheduler.enqueue(Self.request("old", prompt: 6))
        scheduler.enqueue(Self.request("new", prompt: 6, first: 300))
        var plans: [[String]] = []
        for _ in 0..<4 {
            let chunks = scheduler.schedule()
            plans.append(Self.plan(chunks))
            scheduler.computed(chunks)
            for chunk in chunks where chunk.completesSequence { chunk.sequence.append(9) }
        }
        // Steps 1-3 run both; in step 4 "old" needs a third block: "new" (admitted last) is
        // preempted; it waits until blocks free up.
        #expect(plans == [["old:6", "new:6"], ["old:1", "new:1"], ["old:1", "new:1"], ["old:1"]])
        #expect(scheduler.preemptions == 1)
        #expect(scheduler.runningCount == 1 && scheduler.waitingCount == 1)
        // When "old" finishes, "new" is recomputed up to its last token, generated ones included
        // (what is still cached of its blocks is reused).
        scheduler.finish([requestID("old")])
        let resumed = scheduler.schedule()
        #expect(resumed.count == 1 && resumed[0].sequence.id.rawValue == "new" && resumed[0].completesSequence)
        #expect(resumed[0].sequence.generatedCount == 3 && resumed[0].start + resumed[0].count == 9)
        #expect(resumed[0].start % 4 == 0 && resumed[0].start < 9)
    }

    @Test func cancellingFreesBlocksAtOnce() {
        let scheduler = Scheduler(blockSize: 4, blockCount: 8, maxBatchTokens: 64, maxSequences: 4, baseNamespace: Self.base)
        scheduler.enqueue(Self.request("a", prompt: 9))
        scheduler.enqueue(Self.request("waiting", prompt: 64))
        let chunks = scheduler.schedule()
        #expect(Self.plan(chunks) == ["a:9"])
        #expect(scheduler.pool.usedBlocks == 3)
        #expect(scheduler.cancel(requestID("a")) && scheduler.cancel(requestID("waiting")))
        #expect(!scheduler.cancel(requestID("a")))
        #expect(scheduler.pool.usedBlocks == 0 && !scheduler.hasWork)
    }

    @Test func aSharedPrefixIsReusedButNeverItsLastToken() {
        let scheduler = Scheduler(blockSize: 4, blockCount: 16, maxBatchTokens: 64, maxSequences: 4, baseNamespace: Self.base)
        scheduler.enqueue(Self.request("first", prompt: 8))
        let chunks = scheduler.schedule()
        scheduler.computed(chunks)
        scheduler.finish([requestID("first")])
        // The same 8 tokens: one full block is reused, the last block is recomputed so that the
        // last token's logits exist.
        scheduler.enqueue(Self.request("again", prompt: 8))
        let again = scheduler.schedule()
        #expect(Self.plan(again) == ["again:4"])
        #expect(again[0].sequence.cachedPromptTokens == 4)
    }
}

/// The whole step against a scripted model runner: each request's next token is written down,
/// so stop rules, detokenization and bookkeeping are checked without a model.
struct EngineStepTests {
    /// Logits whose argmax is the next token of each request's script.
    final class ScriptedRunner: ModelRunner {
        let vocabulary: Int
        var scripts: [String: [Int]]
        private(set) var batches: [[String]] = []

        init(vocabulary: Int, scripts: [String: [Int]]) {
            self.vocabulary = vocabulary
            self.scripts = scripts
        }

        func run(_ chunks: [ScheduledChunk]) -> [[Float]?] {
            batches.append(SchedulerTests.plan(chunks))
            return chunks.map { chunk in
                guard chunk.completesSequence else { return nil }
                let next = scripts[chunk.sequence.id.rawValue]!.removeFirst()
                var logits = [Float](repeating: 0, count: vocabulary)
                logits[next] = 10
                return logits
            }
        }
    }

    // Tokens: 0 "a", 1 "b", 2 "c", 3 end of sequence, 4 "é" split in two bytes.
    static let tokenizer = try! Tokenizer(data: TokenizerData(
        vocabulary: ["a", "b", "c", "<eos>", "Ã", "©"], merges: [], addedTokens: [.init(text: "<eos>", id: 3, special: true)],
        preTokenizerPatterns: [], bosID: nil, eosID: 3, addsBOS: false
    ))

    static func engine(_ runner: ScriptedRunner) -> BatchScheduler {
        let config = ModelConfig(
            architecture: .llama, dimensions: ModelDimensions(layers: 1, hidden: 8, intermediate: 8, heads: 1, kvHeads: 1, headDim: 8, vocabulary: 6),
            contextLength: 256, ropeTheta: 10000, rmsNormEpsilon: 1e-5, tiedEmbeddings: true, attentionBias: false, queryKeyNorm: false
        )
        return BatchScheduler(
            config: config, runner: runner, tokenizer: tokenizer, blockSize: 4, blockCount: 16, maxBatchTokens: 32, maxSequences: 4,
            maxLoRARank: 8, modelIdentity: "test"
        )
    }

    static func request(_ id: String, maxTokens: Int = 8, stop: [String] = []) -> GenerationRequest {
        var parameters = SamplingParameters()
        parameters.temperature = 0
        parameters.maxTokens = maxTokens
        parameters.stop = stop
        return GenerationRequest(id: requestID(id), promptIDs: [0, 1, 2], parameters: parameters)
    }

    /// Runs until no work is left; each request's text and finish reason.
    static func drain(_ engine: BatchScheduler) -> [String: (text: String, reason: String?, tokens: Int)] {
        var results: [String: (text: String, reason: String?, tokens: Int)] = [:]
        while engine.hasWork {
            for output in engine.step() {
                var r = results[output.requestID.rawValue] ?? ("", nil, 0)
                r.text += output.token?.text ?? ""
                r.reason = output.finishReason?.rawValue ?? r.reason
                r.tokens = output.completionTokens
                results[output.requestID.rawValue] = r
            }
        }
        return results
    }

    @Test func stopRulesAndDetokenizationPerRequest() throws {
        let runner = ScriptedRunner(vocabulary: 6, scripts: [
            "eos": [0, 1, 3], "length": [0, 0, 0, 0], "stop-string": [0, 1, 2, 0], "utf8": [4, 5, 3],
        ])
        let engine = Self.engine(runner)
        try engine.submit(Self.request("eos"))
        try engine.submit(Self.request("length", maxTokens: 3))
        try engine.submit(Self.request("stop-string", stop: ["bc"]))
        try engine.submit(Self.request("utf8"))
        let results = Self.drain(engine)
        #expect(results["eos"]! == ("ab", "stop", 2))
        #expect(results["length"]! == ("aaa", "length", 3))
        // The stop string is cut, though it spans two tokens.
        #expect(results["stop-string"]! == ("a", "stop", 3))
        // A character split across tokens is sent whole, once complete.
        #expect(results["utf8"]! == ("é", "stop", 2))
        #expect(engine.pool.usedBlocks == 0)
        // One forward pass per step for every request; prompts first, then one token each.
        #expect(runner.batches.first == ["eos:3", "length:3", "stop-string:3", "utf8:3"])
    }

    /// Text that may be the start of a stop string is held back, then sent with a later token
    /// when it turns out not to be one, or with the finish.
    @Test func textThatMayBeginAStopStringIsHeldBack() throws {
        let runner = ScriptedRunner(vocabulary: 6, scripts: ["later": [0, 1, 2, 3], "at-the-end": [0, 2, 3]])
        let engine = Self.engine(runner)
        try engine.submit(Self.request("later", stop: ["bx"]))
        try engine.submit(Self.request("at-the-end", stop: ["cx"]))
        var pieces: [String: [String]] = [:]
        while engine.hasWork {
            for output in engine.step() {
                pieces[output.requestID.rawValue, default: []].append((output.token?.text ?? "") + "|" + output.trailingText)
            }
        }
        #expect(pieces["later"] == ["a|", "|", "bc|", "|"])
        #expect(pieces["at-the-end"] == ["a|", "|", "|c"])
    }

    @Test func aCancelledRequestProducesNothingMore() throws {
        let runner = ScriptedRunner(vocabulary: 6, scripts: ["a": [0, 0, 0, 0], "b": [1, 1, 1, 1]])
        let engine = Self.engine(runner)
        try engine.submit(Self.request("a", maxTokens: 4))
        try engine.submit(Self.request("b", maxTokens: 4))
        _ = engine.step()
        #expect(engine.cancel(requestID("a")))
        let rest = Self.drain(engine)
        #expect(rest["a"] == nil)
        #expect(rest["b"]! == ("bbb", "length", 4))
    }

    @Test func requestsAreCheckedOnTheWayIn() {
        let engine = Self.engine(ScriptedRunner(vocabulary: 6, scripts: [:]))
        var tooLong = Self.request("x", maxTokens: 300)
        #expect { try engine.submit(tooLong) } throws: { "\($0)".contains("exceeds the context length 256") }
        tooLong.promptIDs = [0, 9]
        tooLong.parameters.maxTokens = 1
        #expect { try engine.submit(tooLong) } throws: { "\($0)".contains("token id 9 is outside the vocabulary (6)") }
        #expect(!engine.hasWork)
    }
}
