import Foundation
import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

struct WorkerSelectorTests {
    /// Candidates in no particular order, with costs that differ.
    static let candidates = ["c", "a", "d", "b"].enumerated().map { i, id in
        RoutingCost.Candidate(worker: WorkerID(id), overlap: i, busyBlocks: 10 * i, residency: nil)
    }

    static func draws(_ selector: inout some WorkerSelector, _ count: Int, from candidates: [RoutingCost.Candidate] = candidates) -> [String] {
        (0..<count).map { _ in selector.select(from: candidates, promptBlocks: 4)?.rawValue ?? "none" }
    }

    @Test func roundRobinTakesEachWorkerInTurnByID() {
        var selector = RoundRobinSelector()
        #expect(Self.draws(&selector, 6) == ["a", "b", "c", "d", "a", "b"])
        // The turn counts decisions, whatever the candidates: with two left ("a", "c"), turn 7
        // takes the first.
        #expect(Self.draws(&selector, 2, from: Array(Self.candidates.prefix(2))) == ["a", "c"])
        #expect(selector.select(from: [], promptBlocks: 4) == nil)
    }

    /// The same seed draws the same workers whatever order the candidates come in; every
    /// worker is drawn about as often, costs notwithstanding.
    @Test func randomIsUniformAndReproducibleWithASeed() {
        var first = RandomSelector(generator: SplitMix64(seed: 42))
        var second = RandomSelector(generator: SplitMix64(seed: 42))
        let a = Self.draws(&first, 200)
        #expect(a == Self.draws(&second, 200, from: Self.candidates.reversed()))
        var other = RandomSelector(generator: SplitMix64(seed: 43))
        #expect(a != Self.draws(&other, 200))

        var counting = RandomSelector(generator: SplitMix64(seed: 1))
        let counts = Dictionary(grouping: Self.draws(&counting, 8_000), by: { $0 }).mapValues(\.count)
        #expect(Set(counts.keys) == ["a", "b", "c", "d"])
        for (_, count) in counts { #expect(abs(count - 2_000) < 150) }
        #expect(counting.select(from: [], promptBlocks: 4) == nil)
    }

    @Test func kvAwareTakesTheCheapest() {
        // Costs 4, 13, 22, 31 (prompt blocks − overlap + busy): "c" comes first.
        var selector = KVAwareSelector(cost: RoutingCost(), generator: SplitMix64(seed: 1))
        #expect(Self.draws(&selector, 3) == ["c", "c", "c"])
        #expect(selector.select(from: [], promptBlocks: 4) == nil)
    }

    /// With a temperature the KV selector draws from its generator: reproducible with a seed,
    /// and cheaper workers more often (costs 0 and 1 at T = 1: e⁰ : e⁻¹).
    @Test func kvAwareWithATemperatureDrawsFromItsGenerator() {
        let two = [
            RoutingCost.Candidate(worker: WorkerID("x"), overlap: 4, busyBlocks: 0, residency: nil),
            RoutingCost.Candidate(worker: WorkerID("y"), overlap: 3, busyBlocks: 0, residency: nil),
        ]
        var first = KVAwareSelector(cost: RoutingCost(temperature: 1), generator: SplitMix64(seed: 9))
        var second = KVAwareSelector(cost: RoutingCost(temperature: 1), generator: SplitMix64(seed: 9))
        let drawn = Self.draws(&first, 10_000, from: two)
        #expect(drawn == Self.draws(&second, 10_000, from: two))
        let share = Double(drawn.filter { $0 == "x" }.count) / 10_000
        #expect(abs(share - 1 / (1 + exp(-1.0))) < 0.02)
    }

    /// Each policy's selector draws what the selector of that name draws from the same seed.
    @Test func eachPolicyHasItsSelector() {
        let costly = RoutingCost(temperature: 5)
        var kv = costly.selectorDraws(.kv), kvExpected = KVAwareSelector(cost: costly, generator: SplitMix64(seed: 3))
        #expect(Self.draws(&kv, 50) == Self.draws(&kvExpected, 50))
        var robin = costly.selectorDraws(.roundRobin), robinExpected = RoundRobinSelector()
        #expect(Self.draws(&robin, 50) == Self.draws(&robinExpected, 50))
        var random = costly.selectorDraws(.random), randomExpected = RandomSelector(generator: SplitMix64(seed: 3))
        #expect(Self.draws(&random, 50) == Self.draws(&randomExpected, 50))
        // And the three differ from each other on these candidates.
        var a = costly.selectorDraws(.kv), b = costly.selectorDraws(.roundRobin), c = costly.selectorDraws(.random)
        let (da, db, dc) = (Self.draws(&a, 50), Self.draws(&b, 50), Self.draws(&c, 50))
        #expect(da != db && db != dc && da != dc)
    }
}

extension RoutingCost {
    /// `policy`'s selector over this cost, seeded with 3.
    fileprivate func selectorDraws(_ policy: RoutingPolicy) -> any WorkerSelector {
        policy.selector(cost: self, generator: SplitMix64(seed: 3))
    }
}
