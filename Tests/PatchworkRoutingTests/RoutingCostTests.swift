import Foundation
import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

struct RoutingCostTests {
    let cost = RoutingCost()

    func candidate(_ id: String, overlap: Int, busy: Int, tier: String? = nil) -> RoutingCost.Candidate {
        .init(worker: WorkerID(id), overlap: overlap, busyBlocks: busy, residency: tier.flatMap(RoutingCost.Residency.init(rawValue:)))
    }

    @Test(arguments: [
        // (candidates, prompt blocks, chosen): cached prefix beats a little load...
        ([("a", 0, 0, nil), ("b", 30, 5, nil)], 32, "b"),
        // ...but not a lot of it.
        ([("a", 0, 0, nil), ("b", 30, 40, nil)], 32, "a"),
        // Equal costs go to the lower id...
        ([("b", 4, 0, nil), ("a", 4, 0, nil)], 8, "a"),
        // ...unless one of them reuses more: busy computing the same prefix vs idle without it.
        ([("a", 0, 0, nil), ("b", 8, 8, nil)], 8, "b"),
        // An adapter resident beats one on disk for a short prompt.
        ([("a", 0, 0, "disk"), ("b", 0, 3, "resident")], 2, "b"),
        ([("a", 0, 0, "host"), ("b", 0, 3, "resident")], 2, "a"),
        // A worker that would load the adapter first loses to a busy one that has it on disk.
        ([("a", 0, 0, "absent"), ("b", 0, 7, "disk")], 2, "b"),
    ] as [([(String, Int, Int, String?)], Int, String)])
    func choosesTheCheapestWorker(candidates: [(String, Int, Int, String?)], promptBlocks: Int, chosen: String) {
        let result = cost.choose(candidates.map { candidate($0.0, overlap: $0.1, busy: $0.2, tier: $0.3) }, promptBlocks: promptBlocks)
        #expect(result?.worker == WorkerID(chosen))
    }

    @Test func costIsTheDocumentedSum() {
        let c = RoutingCost(prefillWeight: 2, loadWeight: 0.5, hostPenalty: 3, diskPenalty: 9)
        let expected: Double = 2 * 7 + 0.5 * 4 + 3
        let computed = c.cost(candidate("a", overlap: 3, busy: 4, tier: "host"), promptBlocks: 10)
        #expect(computed == expected)
        #expect(c.cost(candidate("a", overlap: 12, busy: 0, tier: nil), promptBlocks: 10) == 0)
        #expect(c.choose([], promptBlocks: 3)?.worker == nil)
        #expect(RoutingCost(absentPenalty: 5).cost(candidate("a", overlap: 0, busy: 0, tier: "absent"), promptBlocks: 1) == 6)
        // No free adapter slot: making the adapter resident evicts another one.
        var full = candidate("a", overlap: 0, busy: 0, tier: "host")
        full.freeSlots = 0
        #expect(RoutingCost(hostPenalty: 2, evictionPenalty: 4).cost(full, promptBlocks: 1) == 1 + 2 + 4)
        var resident = candidate("a", overlap: 0, busy: 0, tier: "resident")
        resident.freeSlots = 0
        #expect(RoutingCost(evictionPenalty: 4).cost(resident, promptBlocks: 1) == 1)
    }

    /// With a temperature, draws follow exp(−Δcost / T): at T = 1, costs 0, 1 and 5 give
    /// probabilities 1 : e⁻¹ : e⁻⁵ (0.727, 0.268, 0.005); at T = 0 the cheapest always wins.
    @Test func temperatureSamplesBySoftmax() {
        let candidates = [candidate("a", overlap: 10, busy: 0), candidate("b", overlap: 9, busy: 0), candidate("c", overlap: 5, busy: 0)]
        var random = SplitMix64(seed: 7)
        var counts: [String: Int] = [:]
        let soft = RoutingCost(temperature: 1)
        for _ in 0..<20_000 { counts[soft.choose(candidates, promptBlocks: 10, using: &random)!.worker.rawValue, default: 0] += 1 }
        let total = 20_000.0
        let z = 1 + exp(-1.0) + exp(-5.0)
        #expect(abs(Double(counts["a"] ?? 0) / total - 1 / z) < 0.015)
        #expect(abs(Double(counts["b"] ?? 0) / total - exp(-1.0) / z) < 0.015)
        #expect(abs(Double(counts["c"] ?? 0) / total - exp(-5.0) / z) < 0.005)
        for _ in 0..<100 { #expect(cost.choose(candidates, promptBlocks: 10, using: &random)?.worker == WorkerID("a")) }
    }
}
