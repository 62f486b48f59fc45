import Foundation
import PatchworkCore

/// Runs one request to completion on one sequence: prefill, then a token at a time until a
/// stop condition. (The batching scheduler of [3/6] drives the same steps for many sequences.)
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
        public var prefillSeconds: Double
        public var decodeSeconds: Double
    }

    public let transformer: Transformer
    public let tokenizer: Tokenizer

    public init(transformer: Transformer, tokenizer: Tokenizer) {
        self.transformer = transformer
        self.tokenizer = tokenizer
    }

    /// Generates from `promptIDs`; `onToken` sees each token as it is chosen and may return false to stop.
    public func generate(
        promptIDs: [Int], parameters: SamplingParameters, adapter: LoRAWeights? = nil,
        onToken: (Token) -> Bool = { _ in true }
    ) throws(GenerationError) -> Result {
        let config = transformer.config
        let problems = parameters.problems(vocabulary: config.dimensions.vocabulary)
        guard problems.isEmpty else { throw .invalidParameters(problems) }
        guard !promptIDs.isEmpty else { throw .invalidPrompt("the prompt has no tokens") }
        if let bad = promptIDs.first(where: { $0 < 0 || $0 >= config.dimensions.vocabulary }) {
            throw .invalidPrompt("token id \(bad) is outside the vocabulary (\(config.dimensions.vocabulary))")
        }
        let total = promptIDs.count + parameters.maxTokens
        guard total <= config.contextLength else {
            throw .invalidPrompt("prompt (\(promptIDs.count) tokens) plus max_tokens (\(parameters.maxTokens)) exceeds the context length \(config.contextLength)")
        }
        let state = SequenceState(config: config, capacity: total, maxLoRARank: max(adapter?.rank ?? 0, 1))
        var sampler = Sampler(parameters: parameters)
        var stopIDs = Set(parameters.stopTokenIDs)
        if !parameters.ignoreEOS, let eos = tokenizer.eosID { stopIDs.insert(eos) }

        let prefillStart = ContinuousClock.now
        var logits = transformer.forward(promptIDs, state: state, adapter: adapter)
        let prefillSeconds = (ContinuousClock.now - prefillStart).seconds
        let decodeStart = ContinuousClock.now

        var context = promptIDs, counts: [Int: Int] = [:], tokens: [Token] = []
        var decoder = StreamingDecoder(), text = ""
        var finish = FinishReason.length
        while tokens.count < parameters.maxTokens {
            let choice = sampler.next(logits: logits, context: context, generated: counts)
            if stopIDs.contains(choice.token) {
                finish = .stop
                break
            }
            var piece = decoder.append(tokenizer.bytes(of: choice.token))
            text += piece
            // A stop string ends the text before it, even when it spans tokens.
            if let stop = parameters.stop.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
                let kept = text.distance(from: text.startIndex, to: stop.lowerBound)
                piece = String(piece.dropLast(max(0, text.count - kept)))
                text = String(text[..<stop.lowerBound])
                tokens.append(Token(id: choice.token, text: piece, logprob: choice.logprob, top: choice.top))
                _ = onToken(tokens[tokens.count - 1])
                finish = .stop
                break
            }
            let token = Token(id: choice.token, text: piece, logprob: choice.logprob, top: choice.top)
            tokens.append(token)
            context.append(choice.token)
            counts[choice.token, default: 0] += 1
            guard onToken(token) else { finish = .stop; break }
            if tokens.count < parameters.maxTokens { logits = transformer.forward([choice.token], state: state, adapter: adapter) }
        }
        if finish == .length { text += decoder.finish() }
        return Result(
            promptIDs: promptIDs, tokens: tokens, text: text, finishReason: finish,
            prefillSeconds: prefillSeconds, decodeSeconds: (ContinuousClock.now - decodeStart).seconds
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
