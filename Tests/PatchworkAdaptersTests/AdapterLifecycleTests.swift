import Foundation
import Logging
@testable import PatchworkAdapters
import PatchworkCore
import PatchworkFormats
import PatchworkTesting
import Testing

struct AdapterLifecycleTests {
    let a = try! AdapterName("a")
    let sourceA = AdapterSource.file(directory: "/x")
    let sourceB = AdapterSource.file(directory: "/y")

    func record(_ name: AdapterName, _ source: AdapterSource, at time: Double) -> AdapterRecord {
        AdapterRecord(
            name: name, source: source, directory: "/x", digest: ContentDigest(bytes: Array(repeating: 0, count: 32)),
            validated: .init(rank: 8, alpha: 16, scale: 2, targetModules: ["q_proj"], layers: [0], weightBytes: 1),
            baseModelNameOrPath: nil, loadedAt: time, weightsData: Data()
        )
    }

    @Test func oneLoadPerNameOthersJoinOrConflict() {
        var lifecycle = AdapterLifecycle()
        #expect(lifecycle.requestLoad(name: a, source: sourceA, now: 10) == .start)
        #expect(lifecycle.entries[a] == .loading(source: sourceA, since: 10))
        #expect(lifecycle.requestLoad(name: a, source: sourceA, now: 11) == .join)
        #expect(lifecycle.requestLoad(name: a, source: sourceB, now: 11) == .conflict(existingSource: sourceA))
        let loaded = record(a, sourceA, at: 12)
        lifecycle.loadSucceeded(loaded)
        #expect(lifecycle.requestLoad(name: a, source: sourceA, now: 13) == .alreadyLoaded(loaded))
        #expect(lifecycle.requestLoad(name: a, source: sourceB, now: 13) == .conflict(existingSource: sourceA))
        #expect(lifecycle.loaded == [loaded])
    }

    @Test func unloadWaitsForALoadOfTheSameName() {
        var lifecycle = AdapterLifecycle()
        #expect(lifecycle.requestUnload(name: a) == .notFound)
        _ = lifecycle.requestLoad(name: a, source: sourceA, now: 0)
        #expect(lifecycle.requestUnload(name: a) == .waitForLoad)
        let loaded = record(a, sourceA, at: 1)
        lifecycle.loadSucceeded(loaded)
        #expect(lifecycle.requestUnload(name: a) == .unloaded(loaded))
        #expect(lifecycle.entries.isEmpty)
        // After an unload the name is free for another source.
        #expect(lifecycle.requestLoad(name: a, source: sourceB, now: 2) == .start)
    }

    @Test func aFailedLoadFreesTheName() {
        var lifecycle = AdapterLifecycle()
        _ = lifecycle.requestLoad(name: a, source: sourceA, now: 0)
        lifecycle.loadFailed(name: a)
        #expect(lifecycle.entries[a] == nil)
        #expect(lifecycle.requestUnload(name: a) == .notFound)
    }
}

struct AdapterRegistryTests {
    /// A clock the test moves by hand.
    final class ManualClock: @unchecked Sendable {
        // @unchecked Sendable: guarded by `lock`.
        private let lock = NSLock()
        private var time = 1000.0
        func now() -> Double { lock.withLock { time } }
        func advance(_ seconds: Double) { lock.withLock { time += seconds } }
    }

    final class Events: @unchecked Sendable {
        // @unchecked Sendable: guarded by `lock`.
        private let lock = NSLock()
        private var list: [(AdapterEvent.Kind, String)] = []
        func append(_ kind: AdapterEvent.Kind, _ name: String) { lock.withLock { list.append((kind, name)) } }
        var all: [(AdapterEvent.Kind, String)] { lock.withLock { list } }
    }

    func makeRegistry(enabled: Bool = true, clock: ManualClock = ManualClock(), events: Events = Events()) -> AdapterRegistry {
        AdapterRegistry(
            enabled: enabled, loader: AdapterLoader(validator: AdapterValidator(dimensions: AdapterValidatorTests.smol, maxRank: 64)),
            logger: .init(label: "test"), clock: { clock.now() }, onChange: { events.append($0, $1.name.rawValue) }
        )
    }

    let uri = "file://" + TestPaths.adapter("smollm2-qv-r8").path

    @Test func concurrentLoadsOfOneNameReadTheFilesOnce() async throws {
        let events = Events()
        let registry = makeRegistry(events: events)
        let outcomes = try await withThrowingTaskGroup(of: AdapterRegistry.LoadOutcome.self) { group in
            for _ in 0..<20 { group.addTask { try await registry.load(name: "qv", uri: uri) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.count == 20)
        #expect(await registry.loadsPerformed == 1)
        #expect(events.all.count == 1)
        #expect(Set(outcomes.map { outcome -> Int in
            switch outcome { case .loaded(let r), .alreadyLoaded(let r): return r.loraID.rawValue }
        }).count == 1)
    }

    @Test func recordsLoadTimeFromTheInjectedClock() async throws {
        let clock = ManualClock()
        let registry = makeRegistry(clock: clock)
        clock.advance(5)
        guard case .loaded(let record) = try await registry.load(name: "qv", uri: uri) else { Issue.record("not loaded"); return }
        #expect(record.loadedAt == 1005)
        clock.advance(1)
        guard case .alreadyLoaded(let again) = try await registry.load(name: "qv", uri: uri) else { Issue.record("not already loaded"); return }
        #expect(again.loadedAt == 1005)
    }

    @Test func unloadAnnouncesAndFreesTheName() async throws {
        let events = Events()
        let registry = makeRegistry(events: events)
        _ = try await registry.load(name: "org/qv", uri: uri)
        let record = try await registry.unload(name: "org/qv")
        #expect(record.name.rawValue == "org/qv")
        #expect(events.all.map(\.0) == [.loaded, .unloaded])
        await #expect(throws: AdapterError.self) { try await registry.unload(name: "org/qv") }
        #expect(await registry.loaded().isEmpty)
    }

    @Test func disabledRegistryAnswers503() async {
        let registry = makeRegistry(enabled: false)
        await #expect { try await registry.load(name: "qv", uri: uri) } throws: { ($0 as? AdapterError)?.httpStatus == 503 }
    }
}
