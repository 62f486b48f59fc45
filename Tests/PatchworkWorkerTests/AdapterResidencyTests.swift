import PatchworkAdapters
import PatchworkCore
import PatchworkTesting
@testable import PatchworkWorker
import Testing

/// Which requests run, given where their adapters are: tables of events and the actions the
/// engine loop must carry out.
struct AdapterResidencyTests {
    static func request(_ id: String, adapter: AdapterName?) -> InferenceRequest {
        InferenceRequest(requestID: requestID(id), promptIDs: [1, 2, 3], adapter: adapter, sampling: SamplingParameters())
    }

    static let peer: [UInt8] = [7]

    /// Actions as short strings: `start r1`, `prepare x`, `demote x→host`, `fail r1 unknownAdapter`.
    static func describe(_ actions: [AdapterResidency.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .start(let entry): "start \(entry.request.requestID)"
            case .prepare(let name): "prepare \(name)"
            case .demote(let demotion): "demote \(demotion.name)→\(demotion.to.rawValue)"
            case .fail(let entry, let code, _): "fail \(entry.request.requestID) \(code)"
            }
        }
    }

    @Test func requestsWithoutAnAdapterOrWithAnUnknownOneAreDecidedAtOnce() {
        var residency = AdapterResidency(maxResident: 2, maxHost: 2)
        #expect(Self.describe(residency.submit(Self.request("base", adapter: nil), from: Self.peer)) == ["start base"])
        #expect(Self.describe(residency.submit(Self.request("r", adapter: adapterName("ghost")), from: Self.peer)) == ["fail r unknownAdapter"])
        #expect(residency.parked.isEmpty)
    }

    @Test func aRequestWaitsWhileItsAdapterIsPreparedAndOneJobServesAllWhoWait() {
        var residency = AdapterResidency(maxResident: 2, maxHost: 2)
        #expect(residency.loaded(adapterName("x"), pinned: false).isEmpty)
        #expect(residency.tier(of: adapterName("x")) == .host)
        #expect(Self.describe(residency.submit(Self.request("r1", adapter: adapterName("x")), from: Self.peer)) == ["prepare x"])
        #expect(Self.describe(residency.submit(Self.request("r2", adapter: adapterName("x")), from: Self.peer)).isEmpty)
        #expect(residency.parked.map(\.request.requestID.rawValue) == ["r1", "r2"])
        #expect(Self.describe(residency.prepared(adapterName("x"), failure: nil)) == ["start r1", "start r2"])
        #expect(residency.tier(of: adapterName("x")) == .resident && residency.running == [adapterName("x"): 2])
        // Resident now: the next one starts at once.
        #expect(Self.describe(residency.submit(Self.request("r3", adapter: adapterName("x")), from: Self.peer)) == ["start r3"])
    }

    @Test func makingRoomDemotesTheLeastRecentlyUsedIdleAdapterButNeverOneInUse() {
        var residency = AdapterResidency(maxResident: 1, maxHost: 1)
        _ = residency.loaded(adapterName("x"), pinned: false)
        _ = residency.submit(Self.request("rx", adapter: adapterName("x")), from: Self.peer)
        _ = residency.prepared(adapterName("x"), failure: nil)
        // x runs rx: y must wait, no demotion.
        _ = residency.loaded(adapterName("y"), pinned: false)
        #expect(Self.describe(residency.submit(Self.request("ry", adapter: adapterName("y")), from: Self.peer)).isEmpty)
        #expect(residency.parked.map(\.request.requestID.rawValue) == ["ry"])
        // rx ends: x takes the host place y leaves as it becomes resident; y is prepared.
        #expect(Self.describe(residency.ended(requestID("rx"))) == ["demote x→host", "prepare y"])
        #expect(Self.describe(residency.prepared(adapterName("y"), failure: nil)) == ["start ry"])
        #expect(residency.tier(of: adapterName("x")) == .host && residency.tier(of: adapterName("y")) == .resident)
    }

    @Test func aStartThatStartedRequestKeepsItsAdapterFromBeingDemoted() {
        var residency = AdapterResidency(maxResident: 1, maxHost: 2)
        _ = residency.loaded(adapterName("x"), pinned: false)
        _ = residency.loaded(adapterName("y"), pinned: false)
        _ = residency.submit(Self.request("r1", adapter: adapterName("x")), from: Self.peer)
        // While x is prepared, a request for y waits too (the slot is taken by x's preparation).
        #expect(Self.describe(residency.submit(Self.request("r2", adapter: adapterName("y")), from: Self.peer)).isEmpty)
        // x ready: r1 starts and counts as running, so y cannot take x's slot in the same pass.
        #expect(Self.describe(residency.prepared(adapterName("x"), failure: nil)) == ["start r1"])
        #expect(residency.parked.map(\.request.requestID.rawValue) == ["r2"])
    }

    @Test func aFailedPreparationFailsOnlyTheRequestsThatWaitedForIt() {
        var residency = AdapterResidency(maxResident: 2, maxHost: 2)
        _ = residency.loaded(adapterName("x"), pinned: false)
        _ = residency.loaded(adapterName("y"), pinned: false)
        _ = residency.submit(Self.request("rx", adapter: adapterName("x")), from: Self.peer)
        _ = residency.submit(Self.request("ry", adapter: adapterName("y")), from: Self.peer)
        #expect(Self.describe(residency.prepared(adapterName("x"), failure: "its files changed")) == ["fail rx internalError"])
        #expect(residency.tier(of: adapterName("x")) == .host)
        #expect(Self.describe(residency.prepared(adapterName("y"), failure: nil)) == ["start ry"])
    }

    @Test func unloadingAnAdapterFailsItsParkedRequestsAndACancelledOneLeavesQuietly() {
        var residency = AdapterResidency(maxResident: 2, maxHost: 2)
        _ = residency.loaded(adapterName("x"), pinned: false)
        _ = residency.submit(Self.request("r1", adapter: adapterName("x")), from: Self.peer)
        _ = residency.submit(Self.request("r2", adapter: adapterName("x")), from: Self.peer)
        #expect(residency.ended(requestID("r1")).isEmpty)
        #expect(residency.parked.map(\.request.requestID.rawValue) == ["r2"])
        #expect(Self.describe(residency.unloaded(adapterName("x"))) == ["fail r2 unknownAdapter"])
        #expect(residency.parked.isEmpty && residency.tier(of: adapterName("x")) == nil)
        // A preparation that finishes after the unload changes nothing.
        #expect(residency.prepared(adapterName("x"), failure: nil).isEmpty)
        #expect(Self.describe(residency.submit(Self.request("r3", adapter: adapterName("x")), from: Self.peer)) == ["fail r3 unknownAdapter"])
    }
}
