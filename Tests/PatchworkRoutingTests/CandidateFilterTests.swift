import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

struct CandidateFilterTests {
    /// w1, w2 and w4 serve `m` with adapter `a`, w3 serves `m` without adapters loaded, w5
    /// serves `m` with LoRA disabled, w6 serves `other` with `b`.
    static let members = Fixtures.members([
        Fixtures.registration("w1", adapters: [Fixtures.adapter("a")]),
        Fixtures.registration("w2", adapters: [Fixtures.adapter("a")]),
        Fixtures.registration("w3"),
        Fixtures.registration("w4", adapters: [Fixtures.adapter("a")]),
        Fixtures.registration("w5", lora: false),
        Fixtures.registration("w6", model: "other", adapters: [Fixtures.adapter("b")]),
    ])

    /// Sources known for `c` (model m, whose workers died) and `d` (model `other`).
    static var sources: AdapterSourceBook {
        var book = AdapterSourceBook()
        book.declare([
            AdapterDeclaration(objectName: "c", loraName: try! AdapterName("c"), baseModel: modelName("m"), source: "s3://bucket/c", replicas: 0, generation: 1),
            AdapterDeclaration(objectName: "d", loraName: try! AdapterName("d"), baseModel: modelName("other"), source: "s3://bucket/d", replicas: 0, generation: 1),
        ])
        return book
    }

    @Test(arguments: [
        // (model, adapter, excluded, candidates, load source, served)
        ("m", nil, [], ["w1", "w2", "w3", "w4", "w5"], nil, true),
        ("m", "a", [], ["w1", "w2", "w4"], nil, true),
        ("m", "a", ["w2"], ["w1", "w4"], nil, true),
        ("other", nil, [], ["w6"], nil, true),
        ("other", "b", [], ["w6"], nil, true),
        ("unknown-model", nil, [], [], nil, true),
        // Held by a worker of another model only: no on-demand placement, and it is served.
        ("m", "b", [], [], nil, true),
        // Every holder excluded: none is a candidate, and no worker loads it anew either.
        ("m", "a", ["w1", "w2", "w4"], [], nil, true),
        // On-demand placement: nobody holds `c`, its source is known for `m`: every worker of
        // `m` that serves adapters, not excluded.
        ("m", "c", [], ["w1", "w2", "w3", "w4"], "s3://bucket/c", true),
        ("m", "c", ["w3"], ["w1", "w2", "w4"], "s3://bucket/c", true),
        // Its source is for another model.
        ("m", "d", [], [], nil, true),
        // Never seen, or unloaded on purpose (no source): not served.
        ("m", "e", [], [], nil, false),
    ] as [(String, String?, [String], [String], String?, Bool)])
    func candidates(model: String, adapter: String?, excluded: [String], expected: [String], loadSource: String?, served: Bool) {
        let filter = CandidateFilter(route: Fixtures.route([1, 2, 3, 4], model: model, adapter: adapter, excluding: excluded), members: Self.members, sources: Self.sources)
        #expect(filter.candidates(among: Self.members).map(\.registration.workerID.rawValue) == expected)
        #expect(filter.loadSource == loadSource)
        #expect(filter.served == served)
    }

    @Test func admittedHoldersComeWithTheirWeights() {
        let members = Fixtures.members([Fixtures.registration("w1", adapters: [Fixtures.adapter("x"), Fixtures.adapter("a", weights: 7)])])
        let filter = CandidateFilter(route: Fixtures.route([], adapter: "a"), members: members, sources: AdapterSourceBook())
        let (admitted, digest) = filter.admits(members[0])
        #expect(admitted && digest == Fixtures.digest(7))
        let base = CandidateFilter(route: Fixtures.route([]), members: members, sources: AdapterSourceBook())
        #expect(base.admits(members[0]).admitted && base.admits(members[0]).digest == nil)
    }
}
