import CPatchworkKernels
import PatchworkCore
import Foundation

/// Picks next tokens from logits: penalties, then temperature, top-k, top-p and min-p, then a
/// draw from a seeded generator. Log-probabilities are those of the model's own distribution
/// (log-softmax of the raw logits), as Hugging Face's `output_scores` and vLLM report them.
public struct Sampler: Sendable {
    public struct Choice: Sendable, Equatable {
        public var token: Int
        public var logprob: Float
        /// The most likely tokens with their log-probabilities, most likely first.
        public var top: [(id: Int, logprob: Float)]

        public static func == (a: Choice, b: Choice) -> Bool {
            a.token == b.token && a.logprob == b.logprob && a.top.map(\.id) == b.top.map(\.id) && a.top.map(\.logprob) == b.top.map(\.logprob)
        }
    }

    public let parameters: SamplingParameters
    private var random: Xoshiro256

    public init(parameters: SamplingParameters) {
        self.parameters = parameters
        random = Xoshiro256(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Chooses the next token.
    /// - Parameters:
    ///   - context: the prompt and the tokens generated so far (repetition penalty).
    ///   - generated: counts of generated tokens (presence and frequency penalties).
    public mutating func next(logits raw: [Float], context: [Int], generated: [Int: Int]) -> Choice {
        // Log-probabilities of the chosen token and the top ones only: x − log Σ e^x.
        let logSum = Self.logSumExp(raw)
        var logits = raw
        let p = parameters
        if p.repetitionPenalty != 1 {
            for token in Set(context) where token < logits.count {
                logits[token] = logits[token] > 0 ? logits[token] / p.repetitionPenalty : logits[token] * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (token, count) in generated where token < logits.count {
                logits[token] -= p.presencePenalty + p.frequencyPenalty * Float(count)
            }
        }
        let token = p.temperature == 0 ? Self.argmax(logits) : draw(from: logits)
        let top = (p.topLogprobs ?? 0) > 0 ? Self.top(raw, count: p.topLogprobs!).map { (id: $0.id, logprob: $0.logprob - logSum) } : []
        return Choice(token: token, logprob: raw[token] - logSum, top: top)
    }

    private mutating func draw(from logits: [Float]) -> Int {
        let p = parameters
        // Candidates sorted by logit, best first; only as many as top-k keeps.
        var order = Array(logits.indices)
        let keep = p.topK > 0 ? min(p.topK, logits.count) : logits.count
        if keep < logits.count {
            order = Array(Self.top(logits, count: keep).map(\.id))
        } else {
            order.sort { logits[$0] > logits[$1] }
        }
        let maximum = logits[order[0]] / p.temperature
        var probabilities = order.map { exp(logits[$0] / p.temperature - maximum) }
        let total = probabilities.reduce(0, +)
        for i in probabilities.indices { probabilities[i] /= total }
        // top-p: the smallest prefix reaching topP; min-p: relative to the most likely.
        var cut = probabilities.count
        if p.topP < 1 {
            var sum: Float = 0
            for (i, q) in probabilities.enumerated() {
                sum += q
                if sum >= p.topP { cut = i + 1; break }
            }
        }
        if p.minP > 0 {
            let floor = p.minP * probabilities[0]
            cut = min(cut, max(1, probabilities.prefix(while: { $0 >= floor }).count))
        }
        let kept = probabilities[..<cut]
        var target = Float(random.nextUnit()) * kept.reduce(0, +)
        for (i, q) in kept.enumerated() {
            target -= q
            if target <= 0 { return order[i] }
        }
        return order[cut - 1]
    }

    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// `log Σ exp(x)`, computed stably (vector code: the whole vocabulary, every step).
    public static func logSumExp(_ logits: [Float]) -> Float {
        logits.withUnsafeBufferPointer { pw_log_sum_exp($0.baseAddress!, Int32($0.count)) }
    }

    /// `x - log Σ exp(x)`.
    public static func logSoftmax(_ logits: [Float]) -> [Float] {
        let logSum = logSumExp(logits)
        return logits.map { $0 - logSum }
    }

    /// The `count` largest values with their indices, largest first.
    static func top(_ values: [Float], count: Int) -> [(id: Int, logprob: Float)] {
        var best: [(id: Int, logprob: Float)] = []
        best.reserveCapacity(count + 1)
        for (i, v) in values.enumerated() where best.count < count || v > best[best.count - 1].logprob {
            let position = best.firstIndex { v > $0.logprob } ?? best.count
            best.insert((i, v), at: position)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}

/// xoshiro256** seeded through SplitMix64: small, fast and the same on every platform, so a
/// seed gives the same tokens everywhere.
struct Xoshiro256: Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9e37_79b9_7f4a_7c15
            var z = x
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A double in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
