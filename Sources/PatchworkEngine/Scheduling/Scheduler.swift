import PatchworkCore

/// A request in the scheduler: its tokens (prompt, then what was generated), how many of them
/// are in the KV cache, and its blocks.
public final class ScheduledSequence {
    public let request: GenerationRequest
    /// Order of arrival; a preempted sequence goes back before everything that arrived later.
    let arrival: Int
    /// Prompt and generated tokens.
    public private(set) var tokens: [Int]
    /// Tokens whose keys and values are in the cache.
    public fileprivate(set) var computed = 0
    public fileprivate(set) var blocks: SequenceBlocks?
    /// Prompt tokens found in the prefix cache when the request was first admitted.
    public fileprivate(set) var cachedPromptTokens = 0

    init(request: GenerationRequest, arrival: Int) {
        self.request = request
        self.arrival = arrival
        tokens = request.promptIDs
    }

    public var id: RequestID { request.id }
    public var generatedCount: Int { tokens.count - request.promptIDs.count }

    /// A sampled token joins the sequence; its keys and values are computed next step.
    public func append(_ token: Int) { tokens.append(token) }
}

/// What to compute for one sequence in a step: `count` of its tokens from position `start`.
public struct ScheduledChunk {
    public let sequence: ScheduledSequence
    public let start: Int
    public let count: Int
    /// The chunk reaches the sequence's last token: its logits choose the next one.
    public let completesSequence: Bool

    init(sequence: ScheduledSequence, count: Int) {
        self.sequence = sequence
        start = sequence.computed
        self.count = count
        completesSequence = sequence.computed + count == sequence.tokens.count
    }

    /// The tokens to compute.
    public var tokens: ArraySlice<Int> { sequence.tokens[start..<start + count] }
}

/// Decides each step, as vLLM v1's scheduler does, and nothing else (no model, no sampling):
/// - running sequences go first, oldest first: the rest of their prompt (in chunks, within the
///   token budget, so decodes keep going during a long prefill) or one token;
/// - then waiting ones are admitted in arrival order while the budget, free blocks and
///   `maxSequences` allow, reusing the cached blocks of their prefix in their namespace;
/// - when blocks run out, the most recently admitted running sequence is preempted: its blocks
///   are released and it is recomputed later (its generated tokens are kept);
/// - a cancelled request frees its blocks at once.
public final class Scheduler {
    public let maxBatchTokens: Int
    public let maxSequences: Int
    public private(set) var pool: BlockPool
    let baseNamespace: CacheNamespace
    private var waiting: [ScheduledSequence] = []
    private var running: [ScheduledSequence] = []
    private var arrivals = 0
    /// Preemptions so far (a sign the KV pool is too small for the load).
    public private(set) var preemptions = 0

    public init(blockSize: Int, blockCount: Int, maxBatchTokens: Int, maxSequences: Int, baseNamespace: CacheNamespace) {
        self.maxBatchTokens = maxBatchTokens
        self.maxSequences = maxSequences
        self.baseNamespace = baseNamespace
        pool = BlockPool(blockSize: blockSize, blockCount: blockCount)
    }

    public var runningCount: Int { running.count }
    public var waitingCount: Int { waiting.count }
    public var hasWork: Bool { !running.isEmpty || !waiting.isEmpty }

    /// Prompt tokens still to compute: waiting sequences', and running ones' still in prefill
    /// (the work ahead of a new request's first token).
    public var queuedPrefillTokens: Int {
        (waiting + running).reduce(0) { $0 + max(0, $1.tokens.count - $1.computed - 1) }
    }

    /// KV blocks held by sequences that are decoding.
    public var decodeBlocks: Int {
        running.reduce(0) { $0 + ($1.tokens.count - $1.computed <= 1 ? $1.blocks?.blockIDs.count ?? 0 : 0) }
    }

    /// Queues a request that was already checked (``BatchScheduler/submit(_:)`` checks).
    public func enqueue(_ request: GenerationRequest) {
        arrivals += 1
        waiting.append(ScheduledSequence(request: request, arrival: arrivals))
    }

    /// Drops a request, waiting or running, and frees its blocks. Returns whether it was there.
    @discardableResult
    public func cancel(_ requestID: RequestID) -> Bool {
        if let i = waiting.firstIndex(where: { $0.id == requestID }) {
            waiting.remove(at: i)
            return true
        }
        guard let i = running.firstIndex(where: { $0.id == requestID }) else { return false }
        if let blocks = running[i].blocks { pool.release(blocks) }
        running.remove(at: i)
        return true
    }

    /// The chunks to compute this step, in scheduling order (blocks are allocated for them).
    public func schedule() -> [ScheduledChunk] {
        var budget = maxBatchTokens
        var chunks: [ScheduledChunk] = []

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
            chunks.append(ScheduledChunk(sequence: sequence, count: count))
            budget -= count
            index += 1
        }

        // 2. Waiting sequences, in arrival order, while budget, blocks and slots remain.
        while budget > 0, running.count < maxSequences, let sequence = waiting.first {
            guard let blocks = try? pool.admit(tokens: sequence.tokens, namespace: namespace(of: sequence)) else { break }
            waiting.removeFirst()
            sequence.blocks = blocks
            sequence.computed = blocks.cachedTokens
            if sequence.generatedCount == 0 { sequence.cachedPromptTokens = blocks.cachedTokens }
            running.append(sequence)
            let count = min(sequence.tokens.count - sequence.computed, budget)
            chunks.append(ScheduledChunk(sequence: sequence, count: count))
            budget -= count
        }
        return chunks
    }

    /// The chunks were computed: their tokens are in the cache, and full blocks are registered
    /// for prefix reuse.
    public func computed(_ chunks: [ScheduledChunk]) {
        for chunk in chunks {
            let sequence = chunk.sequence
            sequence.computed += chunk.count
            pool.commit(&sequence.blocks!, tokens: sequence.tokens, computedTokens: sequence.computed)
        }
    }

    /// Finished sequences leave and free their blocks.
    public func finish(_ requestIDs: Set<RequestID>) {
        guard !requestIDs.isEmpty else { return }
        running.removeAll { sequence in
            guard requestIDs.contains(sequence.id) else { return false }
            pool.release(sequence.blocks!)
            return true
        }
    }

    /// KV events since the last call (vLLM's format).
    public func drainEvents() -> [KVEvent] { pool.drainEvents() }

    private func namespace(of sequence: ScheduledSequence) -> CacheNamespace { sequence.request.adapter?.namespace ?? baseNamespace }

    private func preempt(_ sequence: ScheduledSequence) {
        if let blocks = sequence.blocks { pool.release(blocks) }
        sequence.blocks = nil
        sequence.computed = 0
        running.removeAll { $0 === sequence }
        // Back to the front: it arrived before everything still waiting.
        waiting.insert(sequence, at: waiting.firstIndex { $0.arrival > sequence.arrival } ?? waiting.endIndex)
        preemptions += 1
    }
}
