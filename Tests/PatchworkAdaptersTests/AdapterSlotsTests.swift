import PatchworkAdapters
import PatchworkCore
import PatchworkTesting
import Testing

struct AdapterSlotsTests {
    @Test func requestsMakeAdaptersResidentUpToTheLimitThenEvictTheLeastRecentlyUsedIdleOne() {
        var slots = AdapterSlots(maxResident: 2, maxHost: 8)
        for name in [adapterName("a"), adapterName("b"), adapterName("c")] { #expect(slots.add(name, pinned: false).isEmpty) }
        #expect(slots.tier(of: adapterName("a")) == .host)
        #expect(slots.request(adapterName("a")) == .prepare(demotions: []))
        #expect(slots.request(adapterName("a")) == .wait)  // already being prepared
        slots.prepared(adapterName("a"), succeeded: true)
        #expect(slots.request(adapterName("a")) == .ready)
        #expect(slots.request(adapterName("b")) == .prepare(demotions: []))
        slots.prepared(adapterName("b"), succeeded: true)
        // Both slots taken: adapterName("a") was used less recently than adapterName("b").
        #expect(slots.request(adapterName("c")) == .prepare(demotions: [.init(name: adapterName("a"), to: .host)]))
        slots.prepared(adapterName("c"), succeeded: true)
        #expect(slots.count(.resident) == 2 && slots.tier(of: adapterName("a")) == .host)
    }

    @Test func adaptersBeingPreparedHoldTheirSlots() {
        var slots = AdapterSlots(maxResident: 2, maxHost: 8)
        for name in [adapterName("a"), adapterName("b"), adapterName("c")] { _ = slots.add(name, pinned: false) }
        #expect(slots.request(adapterName("a")) == .prepare(demotions: []))
        #expect(slots.request(adapterName("b")) == .prepare(demotions: []))
        // Both slots are spoken for while a and b load; nothing idle can be evicted.
        #expect(slots.request(adapterName("c")) == .wait)
        slots.prepared(adapterName("a"), succeeded: false)
        #expect(slots.request(adapterName("c")) == .prepare(demotions: []))
    }

    @Test func runningAndPinnedAdaptersAreNeverEvicted() {
        var slots = AdapterSlots(maxResident: 2, maxHost: 8)
        for name in [adapterName("pinned"), adapterName("busy"), adapterName("new")] { _ = slots.add(name, pinned: name == adapterName("pinned")) }
        for name in [adapterName("pinned"), adapterName("busy")] {
            _ = slots.request(name)
            slots.prepared(name, succeeded: true)
        }
        slots.started(adapterName("busy"))
        #expect(slots.request(adapterName("new")) == .wait)
        slots.finished(adapterName("busy"))
        #expect(slots.request(adapterName("new")) == .prepare(demotions: [.init(name: adapterName("busy"), to: .host)]))
    }

    @Test func hostMemoryOverflowsToDiskOldestFirst() {
        var slots = AdapterSlots(maxResident: 1, maxHost: 2)
        #expect(slots.add(adapterName("a"), pinned: false).isEmpty)
        #expect(slots.add(adapterName("b"), pinned: false).isEmpty)
        #expect(slots.add(adapterName("c"), pinned: false) == [.init(name: adapterName("a"), to: .disk)])
        #expect(slots.tier(of: adapterName("c")) == .host)
        _ = slots.request(adapterName("b"))
        slots.prepared(adapterName("b"), succeeded: true)
        // Preparing adapterName("a") from disk pushes adapterName("b") out of its slot; host has room for it (adapterName("c") and adapterName("b")).
        #expect(slots.request(adapterName("a")) == .prepare(demotions: [.init(name: adapterName("b"), to: .host)]))
        slots.prepared(adapterName("a"), succeeded: false)
        #expect(slots.tier(of: adapterName("a")) == .disk)
        #expect(slots.count(.resident) == 0)
    }
}
