import Foundation
import PatchworkCore
import PatchworkTokenizer

/// An adapter ready for compute: its weights and its cache namespace (from its content digest).
public final class ResidentAdapter: Sendable {
    public let name: String
    public let weights: LoRAWeights
    public let namespace: CacheNamespace

    public init(name: String, weights: LoRAWeights, namespace: CacheNamespace) {
        self.name = name
        self.weights = weights
        self.namespace = namespace
    }
}

/// A request to the engine.
public struct GenerationRequest: Sendable {
    public var id: String
    public var promptIDs: [Int]
    public var parameters: SamplingParameters
    public var adapter: ResidentAdapter?

    public init(id: String, promptIDs: [Int], parameters: SamplingParameters, adapter: ResidentAdapter? = nil) {
        self.id = id
        self.promptIDs = promptIDs
        self.parameters = parameters
        self.adapter = adapter
    }
}

/// What one step produced for one request: a token (with its text and log-probabilities),
/// and the finish reason once it is done.
public struct StepOutput: Sendable {
    public var requestID: String
    public var token: Generator.Token?
    public var finishReason: Generator.FinishReason?
    public var promptTokens: Int
    public var cachedPromptTokens: Int
    public var completionTokens: Int
}

/// Continuous batching over a paged KV cache, as vLLM's scheduler does it:
/// - each ``step()`` runs one forward pass over every scheduled token of every sequence, within
///   a budget of `maxBatchTokens`; long prompts are prefilled in chunks so decodes keep going;
/// - running sequences go first (FCFS), then waiting ones are admitted in arrival order while
///   blocks, budget and `maxSequences` allow, reusing cached prefix blocks of their namespace;
/// - when blocks run out, the most recently admitted running sequence is preempted: its blocks
///   are released and it is recomputed later (its generated tokens are kept);
/// - cancelling a request frees its blocks at once.
/// Not an actor: one task owns a scheduler and calls it in turn.
public final class BatchScheduler {
    final class Sequence {
        let request: GenerationRequest
        let arrival: Int
        /// Prompt and generated tokens.
        var tokens: [Int]
        /// Tokens whose keys and values are in the cache.
        var computed = 0
        var blocks: SequenceBlocks?
        var sampler: Sampler
        var generatedCounts: [Int: Int] = [:]
        var generated = 0
        var decoder = StreamingDecoder()
        var text = ""
        var cachedPromptTokens = 0

        init(request: GenerationRequest, arrival: Int) {
            self.request = request
            self.arrival = arrival
            tokens = request.promptIDs
            sampler = Sampler(parameters: request.parameters)
        }

    }


    public let transformer: Transformer
    public let tokenizer: Tokenizer
    public let maxBatchTokens: Int
    public let maxSequences: Int
    public private(set) var pool: BlockPool
    let storage: PagedKVStorage
    let scratch: ForwardScratch
    let baseNamespace: CacheNamespace
    private var waiting: [Sequence] = []
    private var running: [Sequence] = []
    private var arrivals = 0
    /// Preemptions so far (a sign the KV pool is too small for the load).
    public private(set) var preemptions = 0

    /// - Parameters:
    ///   - blockCount: KV blocks in the pool (`--num-kv-blocks`, or `--kv-cache-bytes` ÷ block bytes).
    ///   - modelIdentity: names the base model in its cache namespace.
    public init(
        transformer: Transformer, tokenizer: Tokenizer, blockSize: Int = KVBlock.defaultSize, blockCount: Int, maxBatchTokens: Int = 512,
        maxSequences: Int = 64, maxLoRARank: Int = 64, modelIdentity: String = ""
    ) {
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.maxBatchTokens = maxBatchTokens
        self.maxSequences = maxSequences
        pool = BlockPool(blockSize: blockSize, blockCount: blockCount)
        storage = PagedKVStorage(config: transformer.config, blockSize: blockSize, blockCount: blockCount)
        let context = min(transformer.config.contextLength, blockCount * blockSize)
        scratch = ForwardScratch(config: transformer.config, maxTokens: maxBatchTokens, maxContext: context, maxLoRARank: maxLoRARank, maxLogitRows: maxSequences)
        baseNamespace = .base(modelIdentity: modelIdentity)
    }

    public var runningCount: Int { running.count }

    /// Prompt tokens still to compute: waiting sequences', and running ones' still in prefill
    /// (the work ahead of a new request's first token).
    public var queuedPrefillTokens: Int {
        waiting.reduce(0) { $0 + max(0, $1.tokens.count - $1.computed - 1) } + running.reduce(0) { $0 + max(0, $1.tokens.count - $1.computed - 1) }
    }

    /// KV blocks held by sequences that are decoding.
    public var decodeBlocks: Int {
        running.reduce(0) { $0 + ($1.tokens.count - $1.computed <= 1 ? $1.blocks?.blockIDs.count ?? 0 : 0) }
    }
    public var waitingCount: Int { waiting.count }
    public var hasWork: Bool { !running.isEmpty || !waiting.isEmpty }

    /// Queues a request after checking it.
    /// - Throws: ``GenerationError`` for invalid parameters, an empty or out-of-vocabulary
    ///   prompt, or a prompt plus `max_tokens` beyond the context or the whole KV pool.
    public func submit(_ request: GenerationRequest) throws(GenerationError) {
        let config = transformer.config
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
        if let rank = request.adapter?.weights.rank, rank > scratch.maxLoRARank {
            throw .invalidParameters(["adapter rank \(rank) exceeds the engine's maximum \(scratch.maxLoRARank)"])
        }
        arrivals += 1
        waiting.append(Sequence(request: request, arrival: arrivals))
    }

    /// Drops a request, waiting or running, and frees its blocks. Returns whether it was there.
    @discardableResult
    public func cancel(_ requestID: String) -> Bool {
        if let i = waiting.firstIndex(where: { $0.request.id == requestID }) {
            waiting.remove(at: i)
            return true
        }
        guard let i = running.firstIndex(where: { $0.request.id == requestID }) else { return false }
        if let blocks = running[i].blocks { pool.release(blocks) }
        running.remove(at: i)
        return true
    }

    /// KV events since the last call (vLLM's format).
    public func drainEvents() -> [KVEvent] { pool.drainEvents() }

    /// Runs one step: schedules, runs the forward pass, samples, and reports.
    public func step() -> [StepOutput] {
        var budget = maxBatchTokens
        var scheduled: [(sequence: Sequence, count: Int)] = []

        // 1. Running sequences, oldest first: the rest of their prompt (in chunks) or one token.
        var index = 0
        while index < running.count && budget > 0 {
            let sequence = running[index]
            let count = min(sequence.tokens.count - sequence.computed, budget)
            do {
                try pool.grow(&sequence.blocks!, toTokens: sequence.computed + count)
            } catch {
                // Out of blocks: preempt the newest running sequence (perhaps this one).
                guard let victim = running.last else { break }
                preempt(victim)
                if victim === sequence { break } else { continue }
            }
            scheduled.append((sequence, count))
            budget -= count
            index += 1
        }

        // 2. Waiting sequences, in arrival order, while budget, blocks and slots remain.
        while budget > 0, running.count < maxSequences, let sequence = waiting.first {
            guard let blocks = try? pool.admit(tokens: sequence.tokens, namespace: namespace(of: sequence)) else { break }
            waiting.removeFirst()
            sequence.blocks = blocks
            sequence.computed = blocks.cachedTokens
            if sequence.generated == 0 { sequence.cachedPromptTokens = blocks.cachedTokens }
            running.append(sequence)
            let count = min(sequence.tokens.count - sequence.computed, budget)
            scheduled.append((sequence, count))
            budget -= count
        }
        guard !scheduled.isEmpty else { return [] }

        // 3. One forward pass; entries that share an adapter sit together (one LoRA product each).
        var adapters: [ResidentAdapter] = []
        func adapterIndex(_ adapter: ResidentAdapter?) -> Int? {
            guard let adapter else { return nil }
            if let i = adapters.firstIndex(where: { $0 === adapter }) { return i }
            adapters.append(adapter)
            return adapters.count - 1
        }
        let order = scheduled.indices.sorted { (adapterIndex(scheduled[$0].sequence.request.adapter) ?? -1, $0) < (adapterIndex(scheduled[$1].sequence.request.adapter) ?? -1, $1) }
        let batch = order.map { i -> BatchEntry in
            let (sequence, count) = scheduled[i]
            return BatchEntry(
                tokens: Array(sequence.tokens[sequence.computed..<sequence.computed + count]), start: sequence.computed,
                blockTable: sequence.blocks!.blockIDs, adapter: adapterIndex(sequence.request.adapter),
                wantsLogits: sequence.computed + count == sequence.tokens.count
            )
        }
        let logits = transformer.forward(batch: batch, adapters: adapters.map(\.weights), storage: storage, scratch: scratch)

        // 4. Bookkeeping and sampling, in scheduling order.
        var outputs: [StepOutput] = []
        for (position, i) in order.enumerated() {
            let (sequence, count) = scheduled[i]
            sequence.computed += count
            pool.commit(&sequence.blocks!, tokens: sequence.tokens, computedTokens: sequence.computed)
            guard batch[position].wantsLogits else { continue }
            outputs.append(sample(sequence, logits: logits[position]))
        }
        running.removeAll { sequence in
            guard outputs.contains(where: { $0.requestID == sequence.request.id && $0.finishReason != nil }) else { return false }
            pool.release(sequence.blocks!)
            return true
        }
        return outputs
    }

    private func namespace(of sequence: Sequence) -> CacheNamespace { sequence.request.adapter?.namespace ?? baseNamespace }

    private func preempt(_ sequence: Sequence) {
        if let blocks = sequence.blocks { pool.release(blocks) }
        sequence.blocks = nil
        sequence.computed = 0
        running.removeAll { $0 === sequence }
        // Back to the front: it arrived before everything still waiting.
        waiting.insert(sequence, at: waiting.firstIndex { $0.arrival > sequence.arrival } ?? waiting.endIndex)
        preemptions += 1
    }

    /// Chooses the next token of `sequence` and decides whether it is finished.
    private func sample(_ sequence: Sequence, logits: [Float]) -> StepOutput {
        let parameters = sequence.request.parameters
        let choice = sequence.sampler.next(logits: logits, context: sequence.tokens, generated: sequence.generatedCounts)
        var output = StepOutput(
            requestID: sequence.request.id, token: nil, finishReason: nil, promptTokens: sequence.request.promptIDs.count,
            cachedPromptTokens: sequence.cachedPromptTokens, completionTokens: sequence.generated
        )
        var stopIDs = Set(parameters.stopTokenIDs)
        if !parameters.ignoreEOS, let eos = tokenizer.eosID { stopIDs.insert(eos) }
        if stopIDs.contains(choice.token) {
            output.finishReason = .stop
            return output
        }
        sequence.generated += 1
        output.completionTokens = sequence.generated
        var piece = sequence.decoder.append(tokenizer.bytes(of: choice.token))
        sequence.text += piece
        // A stop string ends the text before it, even when it spans tokens.
        if let stop = parameters.stop.compactMap({ sequence.text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let kept = sequence.text.distance(from: sequence.text.startIndex, to: stop.lowerBound)
            piece = String(piece.dropLast(max(0, sequence.text.count - kept)))
            sequence.text = String(sequence.text[..<stop.lowerBound])
            output.token = Generator.Token(id: choice.token, text: piece, logprob: choice.logprob, top: choice.top)
            output.finishReason = .stop
            return output
        }
        sequence.tokens.append(choice.token)
        sequence.generatedCounts[choice.token, default: 0] += 1
        if sequence.generated >= parameters.maxTokens {
            piece += sequence.decoder.finish()
            output.finishReason = .length
        }
        output.token = Generator.Token(id: choice.token, text: piece, logprob: choice.logprob, top: choice.top)
        return output
    }
}
