import PatchworkCore
import PatchworkRouting
import PatchworkTesting
import Testing

struct DeclarationReconcilerTests {
    static let name = try! AdapterName("sql")

    static func declaration(replicas: Int, source: String = "s3://b/sql", model: String = "m") -> AdapterDeclaration {
        AdapterDeclaration(objectName: "sql-object", loraName: name, baseModel: modelName(model), source: source, replicas: replicas, generation: 4)
    }

    static func busy(_ blocks: Int) -> LoadMetrics { LoadMetrics(kvBlocksUsed: blocks) }

    /// Four workers of `m` (w1 … w4, busy 30, 10, 20 and 0 blocks; w4 serves no adapters) and
    /// one of `other`.
    static let fleet = [
        Fixtures.registration("w1", metrics: busy(30)), Fixtures.registration("w2", metrics: busy(10)),
        Fixtures.registration("w3", metrics: busy(20)), Fixtures.registration("w4", lora: false, metrics: busy(0)),
        Fixtures.registration("w5", model: "other", metrics: busy(0)),
    ]

    static func load(_ worker: String) -> DeclarationPlan.Action {
        .load(worker: WorkerID(worker), http: "http://\(worker)", name: name, source: "s3://b/sql", objectName: "sql-object")
    }

    static func unload(_ worker: String) -> DeclarationPlan.Action { .unload(worker: WorkerID(worker), http: "http://\(worker)", name: name) }

    @Test(arguments: [(1, ["w2"]), (2, ["w2", "w3"]), (5, ["w2", "w3", "w1"]), (0, [])])
    func missingReplicasGoToTheLeastBusyWorkersThatServeAdapters(replicas: Int, loadedOn: [String]) {
        let plan = DeclarationReconciler.plan([Self.declaration(replicas: replicas)], previous: [:], members: Fixtures.members(Self.fleet), loading: [], failures: [:])
        #expect(plan.actions == loadedOn.map(Self.load))
        let status = plan.statuses["sql-object"]
        #expect(status?.phase == (replicas == 0 ? "Ready" : "Pending"))
        #expect(status?.observedGeneration == 4)
    }

    @Test func holdersAndLoadsUnderWayCount() {
        var fleet = Self.fleet
        fleet[0].adapters = [Fixtures.adapter("sql", source: "s3://b/sql/")]  // w1 holds it (a worker adds the slash)
        let plan = DeclarationReconciler.plan(
            [Self.declaration(replicas: 3)], previous: [:], members: Fixtures.members(fleet),
            loading: [DeclarationPlan.PendingLoad(worker: WorkerID("w2"), adapter: Self.name)], failures: [:]
        )
        #expect(plan.actions == [Self.load("w3")])
        #expect(plan.statuses["sql-object"] == AdapterDeclaration.Status(phase: "Pending", loadedOn: ["w1"], message: "loading on 2 more workers", observedGeneration: 4))
    }

    @Test func enoughHoldersAreReady() {
        var fleet = Self.fleet
        for i in 0..<3 { fleet[i].adapters = [Fixtures.adapter("sql", source: "s3://b/sql")] }
        let plan = DeclarationReconciler.plan([Self.declaration(replicas: 2)], previous: [:], members: Fixtures.members(fleet), loading: [], failures: ["sql-object": "old"])
        // The third holder is left alone.
        #expect(plan.actions.isEmpty)
        #expect(plan.statuses["sql-object"] == AdapterDeclaration.Status(phase: "Ready", loadedOn: ["w1", "w2", "w3"], message: "loaded on 3 of 2 requested workers", observedGeneration: 4))
    }

    /// A changed `spec.source`: holders of the old one unload it; they get the new one on a later
    /// pass, once they no longer hold the name.
    @Test func aChangedSourceRollsOut() {
        var fleet = Self.fleet
        fleet[1].adapters = [Fixtures.adapter("sql", source: "s3://b/old")]
        let plan = DeclarationReconciler.plan([Self.declaration(replicas: 1)], previous: [:], members: Fixtures.members(fleet), loading: [], failures: [:])
        #expect(plan.actions == [Self.unload("w2"), Self.load("w3")])
    }

    @Test func aDeletedDeclarationIsUnloadedEverywhere() {
        var fleet = Self.fleet
        fleet[0].adapters = [Fixtures.adapter("sql")]
        fleet[4].adapters = [Fixtures.adapter("sql")]
        let plan = DeclarationReconciler.plan([], previous: [Self.name: Self.declaration(replicas: 1)], members: Fixtures.members(fleet), loading: [], failures: [:])
        #expect(plan.actions == [Self.unload("w1"), Self.unload("w5")])
        #expect(plan.statuses.isEmpty)
    }

    @Test func failuresAndMissingWorkersAreReported() {
        let failed = DeclarationReconciler.plan(
            [Self.declaration(replicas: 1)], previous: [:], members: Fixtures.members(Self.fleet), loading: [], failures: ["sql-object": "worker w2: HTTP 422: rank too high"]
        )
        #expect(failed.statuses["sql-object"]?.phase == "Failed")
        #expect(failed.statuses["sql-object"]?.message == "worker w2: HTTP 422: rank too high")
        let nobody = DeclarationReconciler.plan([Self.declaration(replicas: 1, model: "absent")], previous: [:], members: Fixtures.members(Self.fleet), loading: [], failures: [:])
        #expect(nobody.actions.isEmpty)
        #expect(nobody.statuses["sql-object"]?.message == "no live worker serves absent with adapters")
    }

    @Test(arguments: [
        ("s3://b/x/", "s3://b/x", true), ("s3://b/x", "s3://b/x//", true), ("hf://org/r@main", "hf://org/r", true),
        ("hf://org/r@v2", "hf://org/r", false), ("s3://b/x", "s3://b/y", false), ("s3://b/x", "S3://b/x", false),
    ])
    func sourcesCompareAsWorkersNormalizeThem(held: String, declared: String, same: Bool) {
        #expect(DeclarationReconciler.sameSource(held, declared) == same)
    }
}
