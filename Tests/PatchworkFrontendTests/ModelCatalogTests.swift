import PatchworkCore
@testable import PatchworkFrontend
import PatchworkTesting
import Testing

/// What `/v1/models` lists and which workers serve a name, from one cluster snapshot.
struct ModelCatalogTests {
    static func worker(_ id: String, base: String, adapters: [String] = []) -> WorkerView {
        let card = ModelCard(
            servedModelName: modelName(base), architecture: "llama", contextLength: 4096, kvBlockSize: 16,
            dimensions: ModelDimensions(layers: 2, hidden: 8, intermediate: 8, heads: 1, kvHeads: 1, headDim: 8, vocabulary: 10),
            lora: LoRACapabilities(enabled: true, maxLoras: 4, maxRank: 8), hasChatTemplate: true
        )
        let summaries = adapters.map { name in
            let adapterName = try! AdapterName(name)
            return AdapterSummary(
                name: adapterName, loraID: adapterName.loraID, source: "file:///\(name)", digest: ContentDigest(bytes: Array(repeating: 7, count: 32)),
                rank: 8, alpha: 16, targetModules: ["q_proj"], bytes: 1
            )
        }
        return WorkerView(workerID: WorkerID(id), httpURL: "http://\(id)", servingEndpoint: "tcp://\(id)", model: card, adapters: summaries, metrics: LoadMetrics())
    }

    @Test func basesAndAdaptersWithTheWorkersThatServeThem() {
        let catalog = ModelCatalog(workers: [
            Self.worker("w1", base: "llama", adapters: ["sql", "chat"]),
            Self.worker("w2", base: "llama", adapters: ["sql"]),
            Self.worker("w3", base: "qwen"),
        ])
        #expect(catalog.entries.map(\.id) == ["llama", "qwen", "chat", "sql"])
        #expect(catalog.entry("sql")?.parent == modelName("llama") && catalog.entry("sql")?.workers == [WorkerID("w1"), WorkerID("w2")])
        #expect(catalog.entry("llama")?.parent == nil && catalog.entry("llama")?.workers.count == 2)
        #expect(catalog.entry("chat")?.root == "file:///chat")
        #expect(catalog.entry("nothing") == nil)
    }

    @Test func ambiguousNamesResolveOneWay() {
        let catalog = ModelCatalog(workers: [
            // An adapter named like a base model: the base model wins.
            Self.worker("w1", base: "llama", adapters: ["qwen", "shared"]),
            Self.worker("w2", base: "qwen", adapters: ["shared"]),
        ])
        #expect(catalog.entry("qwen")?.parent == nil && catalog.entry("qwen")?.workers == [WorkerID("w2")])
        // One adapter name over two base models: the first base model (in worker order) keeps it.
        #expect(catalog.entry("shared")?.parent == modelName("llama") && catalog.entry("shared")?.workers == [WorkerID("w1")])
    }

    @Test func anAdapterWhoseWorkersDiedIsServedByItsBaseModelsWorkers() throws {
        let catalog = ModelCatalog(workers: [Self.worker("w1", base: "llama"), Self.worker("w2", base: "qwen")])
        let lost = LoadableAdapter(name: try AdapterName("sql"), model: modelName("llama"), source: "s3://bucket/sql")
        let entry = try #require(catalog.entry(loading: lost))
        #expect(entry.loadable && entry.parent == modelName("llama") && entry.root == "s3://bucket/sql" && entry.workers == [WorkerID("w1")])
        #expect(catalog.entry(loading: LoadableAdapter(name: try AdapterName("x"), model: modelName("gone"), source: "s3://b/x")) == nil)
    }
}
