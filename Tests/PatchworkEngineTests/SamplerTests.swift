import Foundation
import PatchworkCore
@testable import PatchworkEngine
import Testing

struct SamplerTests {
    /// log-probabilities of a known distribution: p = [0.5, 0.25, 0.125, 0.0625, 0.0625].
    static let logits: [Float] = [0.5, 0.25, 0.125, 0.0625, 0.0625].map { Float(log($0)) }

    func parameters(_ edit: (inout SamplingParameters) -> Void) -> SamplingParameters {
        var p = SamplingParameters()
        edit(&p)
        return p
    }

    func draws(_ p: SamplingParameters, count: Int = 4000) -> [Int: Int] {
        var sampler = Sampler(parameters: p)
        var histogram: [Int: Int] = [:]
        for _ in 0..<count { histogram[sampler.next(logits: Self.logits, context: [], generated: [:]).token, default: 0] += 1 }
        return histogram
    }

    @Test func greedyPicksTheMostLikelyAndReportsItsLogprob() {
        var sampler = Sampler(parameters: parameters { $0.temperature = 0; $0.topLogprobs = 3 })
        let choice = sampler.next(logits: Self.logits, context: [], generated: [:])
        #expect(choice.token == 0)
        #expect(abs(choice.logprob - log(0.5)) < 1e-6)
        #expect(choice.top.map(\.id) == [0, 1, 2])
    }

    @Test func temperatureOneFollowsTheDistribution() {
        let histogram = draws(parameters { $0.temperature = 1; $0.seed = 1 })
        // Expected 2000, 1000, 500, 250, 250 of 4000; allow generous sampling noise.
        #expect(abs(histogram[0, default: 0] - 2000) < 150)
        #expect(abs(histogram[1, default: 0] - 1000) < 120)
        #expect(abs(histogram[2, default: 0] - 500) < 90)
    }

    @Test func topKTopPAndMinPCutTheTail() {
        #expect(Set(draws(parameters { $0.topK = 2; $0.seed = 2 }).keys) == [0, 1])
        // top-p 0.7: 0.5 + 0.25 reaches it with two tokens.
        #expect(Set(draws(parameters { $0.topP = 0.7; $0.seed = 3 }).keys) == [0, 1])
        // min-p 0.3: tokens below 0.3 × 0.5 = 0.15 go.
        #expect(Set(draws(parameters { $0.minP = 0.3; $0.seed = 4 }).keys) == [0, 1])
    }

    @Test func theSameSeedGivesTheSameTokens() {
        let p = parameters { $0.seed = 42 }
        var a = Sampler(parameters: p), b = Sampler(parameters: p), c = Sampler(parameters: parameters { $0.seed = 43 })
        let first = (0..<64).map { _ in a.next(logits: Self.logits, context: [], generated: [:]).token }
        let second = (0..<64).map { _ in b.next(logits: Self.logits, context: [], generated: [:]).token }
        let other = (0..<64).map { _ in c.next(logits: Self.logits, context: [], generated: [:]).token }
        #expect(first == second)
        #expect(first != other)
    }

    @Test func penaltiesMoveTheChoiceButNotTheReportedLogprob() {
        var presence = Sampler(parameters: parameters { $0.temperature = 0; $0.presencePenalty = 1 })
        let penalized = presence.next(logits: Self.logits, context: [], generated: [0: 1])
        #expect(penalized.token == 1)  // log 0.5 - 1 < log 0.25
        #expect(abs(penalized.logprob - log(0.25)) < 1e-6)
        var frequency = Sampler(parameters: parameters { $0.temperature = 0; $0.frequencyPenalty = 0.2 })
        #expect(frequency.next(logits: Self.logits, context: [], generated: [0: 4]).token == 1)
        var repetition = Sampler(parameters: parameters { $0.temperature = 0; $0.repetitionPenalty = 3 })
        // Negative logits are multiplied: log 0.5 · 3 < log 0.25.
        #expect(repetition.next(logits: Self.logits, context: [0], generated: [:]).token == 1)
    }

    @Test func invalidParametersAreAllReported() {
        let p = parameters { $0.temperature = -1; $0.topP = 0; $0.maxTokens = 0; $0.topLogprobs = 50; $0.stopTokenIDs = [99] }
        let problems = p.problems(vocabulary: 10)
        #expect(problems.count == 5)
        #expect(problems.contains { $0.contains("stop token id 99") })
    }
}
