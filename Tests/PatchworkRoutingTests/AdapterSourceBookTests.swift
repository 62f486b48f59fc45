import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

struct AdapterSourceBookTests {
    static func name(_ raw: String) -> AdapterName { try! AdapterName(raw) }

    @Test func sourcesAreLearntFromWorkersAndOutliveThem() {
        var book = AdapterSourceBook()
        let members = Fixtures.members([
            Fixtures.registration("w1", adapters: [Fixtures.adapter("a", source: "s3://b/a"), Fixtures.adapter("b", source: "hf://org/b")]),
        ])
        book.learn(from: members[0])
        #expect(book.source(of: Self.name("a")) == LoadableAdapter(name: Self.name("a"), model: modelName("m"), source: "s3://b/a"))
        // The worker died: nothing holds them, both can be loaded.
        #expect(book.loadable(excluding: []).map(\.source) == ["s3://b/a", "hf://org/b"])
        #expect(book.loadable(excluding: [Self.name("a")]).map(\.name.rawValue) == ["b"])
    }

    @Test func anAdapterUnloadedOnPurposeByItsLastHolderIsForgotten() {
        var book = AdapterSourceBook()
        book.learn(from: Fixtures.members([Fixtures.registration("w1", adapters: [Fixtures.adapter("a")])])[0])
        book.unloaded(Self.name("a"), stillHeld: true)
        #expect(book.source(of: Self.name("a")) != nil)
        book.unloaded(Self.name("a"), stillHeld: false)
        #expect(book.source(of: Self.name("a")) == nil)
        #expect(book.loadable(excluding: []).isEmpty)
    }

    @Test func declaredSourcesStayWhileDeclared() {
        var book = AdapterSourceBook()
        let declared = AdapterDeclaration(objectName: "obj", loraName: Self.name("x"), baseModel: modelName("m"), source: "s3://b/x", replicas: 1, generation: 3)
        book.declare([declared])
        #expect(book.source(of: Self.name("x"))?.source == "s3://b/x")
        #expect(book.declared == [Self.name("x"): declared])
        // A worker loaded it from elsewhere by hand: the latest word wins until the next pass.
        book.learn(from: Fixtures.members([Fixtures.registration("w1", adapters: [Fixtures.adapter("x", source: "file:///x")])])[0])
        #expect(book.source(of: Self.name("x"))?.source == "file:///x")
        book.declare([declared])
        #expect(book.source(of: Self.name("x"))?.source == "s3://b/x")
        book.declare([])
        #expect(book.source(of: Self.name("x")) == nil && book.declared.isEmpty)
    }
}
