import PatchworkCore
import PatchworkRouting
import Testing

struct RoutingCostTests {
    let cost = RoutingCost()

    func candidate(_ id: String, overlap: Int, busy: Int, tier: String? = nil) -> RoutingCost.Candidate {
        .init(worker: WorkerID(id), overlap: overlap, busyBlocks: busy, tier: tier)
    }

    @Test(arguments: [
        // (candidates, prompt blocks, chosen): cached prefix beats a little load...
        ([("a", 0, 0, nil), ("b", 30, 5, nil)], 32, "b"),
        // ...but not a lot of it.
        ([("a", 0, 0, nil), ("b", 30, 40, nil)], 32, "a"),
        // Equal costs go to the lower id.
        ([("b", 4, 0, nil), ("a", 4, 0, nil)], 8, "a"),
        // An adapter resident beats one on disk for a short prompt.
        ([("a", 0, 0, "disk"), ("b", 0, 3, "resident")], 2, "b"),
        ([("a", 0, 0, "host"), ("b", 0, 3, "resident")], 2, "a"),
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
    }
}
