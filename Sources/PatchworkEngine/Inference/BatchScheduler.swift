import Foundation
import PatchworkCore
import PatchworkTokenizer

/// An adapter ready for compute: its weights and its cache namespace (from its content digest).
public final class ResidentAdapter: Sendable {
    public let name: AdapterName
    public let weights: LoRAWeights
    public let namespace: CacheNamespace

    public init(name: AdapterName, weights: LoRAWeights, namespace: CacheNamespace) {
        self.name = name
        self.weights = weights
        self.namespace = namespace
    }
}

/// A request to the engine.
public struct GenerationRequest: Sendable {
    public var id: RequestID
    public var promptIDs: [Int]
    public var parameters: SamplingParameters
    public var adapter: ResidentAdapter?

    public init(id: RequestID, promptIDs: [Int], parameters: SamplingParameters, adapter: ResidentAdapter? = nil) {
        self.id = id
        self.promptIDs = promptIDs
        self.parameters = parameters
        self.adapter = adapter
    }
}

/// What one step produced for one request: a token (with its text and log-probabilities),
/// and the finish reason once it is done.
public struct StepOutput: Sendable {
    public var requestID: RequestID
    public var token: Generator.Token?
    public var finishReason: Generator.FinishReason?
    public var promptTokens: Int
    public var cachedPromptTokens: Int
    public var completionTokens: Int
    /// With the finish reason: text held back while it could have begun a stop string, that
    /// belongs to no token of this step (the request ended on an end-of-sequence token).
    public var trailingText = ""
}

/// One engine step in three parts, as vLLM v1 splits it: the ``Scheduler`` decides which
/// requests run and how many of their tokens (budget, chunked prefill, FCFS, preemption), the
/// ``ModelRunner`` runs the forward pass over that batch, the ``OutputProcessor`` samples,
/// detokenizes and applies the stop rules. This type checks requests on the way in and hands
/// each step's results from one part to the next.
/// Not an actor: one task owns a scheduler and calls it in turn.
public final class BatchScheduler {
    public let tokenizer: Tokenizer
    public let scheduler: Scheduler
    let runner: any ModelRunner
    let outputs: OutputProcessor
    private let config: ModelConfig
    private let maxLoRARank: Int

    /// - Parameters:
    ///   - blockCount: KV blocks in the pool (`--num-kv-blocks`, or `--kv-cache-bytes` ÷ block bytes).
    ///   - modelIdentity: names the base model in its cache namespace.
    ///   - kvCacheType: how the KV cache stores keys and values (`--kv-cache-dtype`).
    public convenience init(
        transformer: Transformer, tokenizer: Tokenizer, blockSize: Int = KVBlock.defaultSize, blockCount: Int, maxBatchTokens: Int = 512,
        maxSequences: Int = 64, maxLoRARank: Int = 64, modelIdentity: String = "", kvCacheType: KVCacheType = .f32
    ) {
        let runner = TransformerRunner(
            transformer: transformer, blockSize: blockSize, blockCount: blockCount, maxBatchTokens: maxBatchTokens,
            maxSequences: maxSequences, maxLoRARank: maxLoRARank, kvCacheType: kvCacheType
        )
        self.init(
            config: transformer.config, runner: runner, tokenizer: tokenizer, blockSize: blockSize, blockCount: blockCount,
            maxBatchTokens: maxBatchTokens, maxSequences: maxSequences, maxLoRARank: maxLoRARank, modelIdentity: modelIdentity
        )
    }

    /// With another model runner (tests run the scheduling against a scripted one).
    public init(
        config: ModelConfig, runner: any ModelRunner, tokenizer: Tokenizer, blockSize: Int, blockCount: Int, maxBatchTokens: Int,
        maxSequences: Int, maxLoRARank: Int, modelIdentity: String
    ) {
        self.config = config
        self.runner = runner
        self.tokenizer = tokenizer
        self.maxLoRARank = maxLoRARank
        outputs = OutputProcessor(tokenizer: tokenizer)
        scheduler = Scheduler(
            blockSize: blockSize, blockCount: blockCount, maxBatchTokens: maxBatchTokens, maxSequences: maxSequences,
            baseNamespace: .base(modelIdentity: modelIdentity)
        )
    }

    public var pool: BlockPool { scheduler.pool }
    public var maxBatchTokens: Int { scheduler.maxBatchTokens }
    public var maxSequences: Int { scheduler.maxSequences }
    public var runningCount: Int { scheduler.runningCount }
    public var waitingCount: Int { scheduler.waitingCount }
    public var hasWork: Bool { scheduler.hasWork }
    public var queuedPrefillTokens: Int { scheduler.queuedPrefillTokens }
    public var decodeBlocks: Int { scheduler.decodeBlocks }
    public var preemptions: Int { scheduler.preemptions }

    /// Queues a request after checking it.
    /// - Throws: ``GenerationError`` for invalid parameters, an empty or out-of-vocabulary
    ///   prompt, or a prompt plus `max_tokens` beyond the context or the whole KV pool.
    public func submit(_ request: GenerationRequest) throws(GenerationError) {
        let problems = request.parameters.problems(vocabulary: config.dimensions.vocabulary)
        guard problems.isEmpty else { throw .invalidParameters(problems) }
        guard !request.promptIDs.isEmpty else { throw .invalidPrompt("the prompt has no tokens") }
        if let bad = request.promptIDs.first(where: { $0 < 0 || $0 >= config.dimensions.vocabulary }) {
            throw .invalidPrompt("token id \(bad) is outside the vocabulary (\(config.dimensions.vocabulary))")
        }
        let total = request.promptIDs.count + request.parameters.maxTokens
        guard total <= config.contextLength else {
            throw .invalidPrompt("prompt (\(request.promptIDs.count) tokens) plus max_tokens (\(request.parameters.maxTokens)) exceeds the context length \(config.contextLength)")
        }
        guard total <= pool.blockCount * pool.blockSize else {
            throw .invalidPrompt("prompt plus max_tokens (\(total) tokens) exceeds the KV cache (\(pool.blockCount * pool.blockSize) tokens)")
        }
        if let rank = request.adapter?.weights.rank, rank > maxLoRARank {
            throw .invalidParameters(["adapter rank \(rank) exceeds the engine's maximum \(maxLoRARank)"])
        }
        outputs.started(request)
        scheduler.enqueue(request)
    }

    /// Drops a request, waiting or running, and frees its blocks. Returns whether it was there.
    @discardableResult
    public func cancel(_ requestID: RequestID) -> Bool {
        outputs.ended(requestID)
        return scheduler.cancel(requestID)
    }

    /// KV events since the last call (vLLM's format).
    public func drainEvents() -> [KVEvent] { scheduler.drainEvents() }

    /// Runs one step: schedules, runs the forward pass, samples, and reports.
    public func step() -> [StepOutput] {
        let chunks = scheduler.schedule()
        guard !chunks.isEmpty else { return [] }
        let logits = runner.run(chunks)
        scheduler.computed(chunks)
        var results: [StepOutput] = []
        var finished: Set<RequestID> = []
        for (chunk, logits) in zip(chunks, logits) {
            guard let logits else { continue }
            let output = outputs.process(chunk.sequence, logits: logits)
            if output.finishReason != nil {
                finished.insert(output.requestID)
                outputs.ended(output.requestID)
            }
            results.append(output)
        }
        scheduler.finish(finished)
        return results
    }
}
