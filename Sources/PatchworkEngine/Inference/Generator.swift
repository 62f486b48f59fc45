import Foundation
import PatchworkCore
import PatchworkTokenizer

/// Runs one request to completion: a ``BatchScheduler`` with one sequence and a KV pool just
/// large enough for it (what `patchwork-worker generate` does).
public struct Generator {
    public struct Token: Sendable {
        public var id: Int
        /// The text this token completes (may be empty mid-character).
        public var text: String
        public var logprob: Float
        public var top: [(id: Int, logprob: Float)]
    }

    public enum FinishReason: String, Sendable, Codable { case stop, length }

    public struct Result: Sendable {
        public var promptIDs: [Int]
        public var tokens: [Token]
        public var text: String
        public var finishReason: FinishReason
        /// Time to the first token (prefill and one sampling step).
        public var prefillSeconds: Double
        public var decodeSeconds: Double
    }

    public let transformer: Transformer
    public let tokenizer: Tokenizer
    /// Tokens per forward step while prefilling.
    public var maxBatchTokens = 512
    /// How the KV cache stores keys and values.
    public var kvCacheType = KVCacheType.f32

    public init(transformer: Transformer, tokenizer: Tokenizer) {
        self.transformer = transformer
        self.tokenizer = tokenizer
    }

    /// Generates from `promptIDs`; `onToken` sees each token as it is chosen and may return false to stop.
    public func generate(
        promptIDs: [Int], parameters: SamplingParameters, adapter: ResidentAdapter? = nil,
        onToken: (Token) -> Bool = { _ in true }
    ) throws(GenerationError) -> Result {
        let blockSize = KVBlock.defaultSize
        let total = promptIDs.count + parameters.maxTokens
        let scheduler = BatchScheduler(
            transformer: transformer, tokenizer: tokenizer, blockSize: blockSize, blockCount: max(1, (total + blockSize - 1) / blockSize),
            maxBatchTokens: maxBatchTokens, maxSequences: 1, maxLoRARank: max(adapter?.weights.rank ?? 1, 1), kvCacheType: kvCacheType
        )
        try scheduler.submit(GenerationRequest(id: RequestID.fresh(prefix: "generate-"), promptIDs: promptIDs, parameters: parameters, adapter: adapter))
        let start = ContinuousClock.now
        var firstToken: ContinuousClock.Instant?
        var tokens: [Token] = [], text = "", finish = FinishReason.length
        loop: while scheduler.hasWork {
            for output in scheduler.step() {
                if firstToken == nil { firstToken = .now }
                if let token = output.token {
                    tokens.append(token)
                    text += token.text
                    if !onToken(token) {
                        scheduler.cancel(output.requestID)
                        finish = .stop
                        break loop
                    }
                }
                if let reason = output.finishReason { finish = reason }
            }
        }
        let end = ContinuousClock.now
        return Result(
            promptIDs: promptIDs, tokens: tokens, text: text, finishReason: finish,
            prefillSeconds: ((firstToken ?? end) - start).seconds, decodeSeconds: (end - (firstToken ?? end)).seconds
        )
    }
}

/// A request the engine cannot run, with the reason.
public enum GenerationError: Error, Equatable, CustomStringConvertible {
    case invalidParameters([String])
    case invalidPrompt(String)

    public var description: String {
        switch self {
        case .invalidParameters(let problems): return problems.joined(separator: "; ")
        case .invalidPrompt(let reason): return reason
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
