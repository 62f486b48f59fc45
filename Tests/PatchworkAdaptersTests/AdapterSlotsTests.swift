import PatchworkAdapters
import Testing

struct AdapterSlotsTests {
    @Test func requestsMakeAdaptersResidentUpToTheLimitThenEvictTheLeastRecentlyUsedIdleOne() {
        var slots = AdapterSlots(maxResident: 2, maxHost: 8)
        for name in ["a", "b", "c"] { #expect(slots.add(name, pinned: false).isEmpty) }
        #expect(slots.tier(of: "a") == .host)
        #expect(slots.request("a") == .prepare(demotions: []))
        #expect(slots.request("a") == .wait)  // already being prepared
        slots.prepared("a", succeeded: true)
        #expect(slots.request("a") == .ready)
        #expect(slots.request("b") == .prepare(demotions: []))
        slots.prepared("b", succeeded: true)
        // Both slots taken: "a" was used less recently than "b".
        #expect(slots.request("c") == .prepare(demotions: [.init(name: "a", to: .host)]))
        slots.prepared("c", succeeded: true)
        #expect(slots.count(.resident) == 2 && slots.tier(of: "a") == .host)
    }

    @Test func adaptersBeingPreparedHoldTheirSlots() {
        var slots = AdapterSlots(maxResident: 2, maxHost: 8)
        for name in ["a", "b", "c"] { _ = slots.add(name, pinned: false) }
        #expect(slots.request("a") == .prepare(demotions: []))
        #expect(slots.request("b") == .prepare(demotions: []))
        // Both slots are spoken for while a and b load; nothing idle can be evicted.
        #expect(slots.request("c") == .wait)
        slots.prepared("a", succeeded: false)
        #expect(slots.request("c") == .prepare(demotions: []))
    }

    @Test func runningAndPinnedAdaptersAreNeverEvicted() {
        var slots = AdapterSlots(maxResident: 2, maxHost: 8)
        for name in ["pinned", "busy", "new"] { _ = slots.add(name, pinned: name == "pinned") }
        for name in ["pinned", "busy"] {
            _ = slots.request(name)
            slots.prepared(name, succeeded: true)
        }
        slots.started("busy")
        #expect(slots.request("new") == .wait)
        slots.finished("busy")
        #expect(slots.request("new") == .prepare(demotions: [.init(name: "busy", to: .host)]))
    }

    @Test func hostMemoryOverflowsToDiskOldestFirst() {
        var slots = AdapterSlots(maxResident: 1, maxHost: 2)
        #expect(slots.add("a", pinned: false).isEmpty)
        #expect(slots.add("b", pinned: false).isEmpty)
        #expect(slots.add("c", pinned: false) == [.init(name: "a", to: .disk)])
        #expect(slots.tier(of: "c") == .host)
        _ = slots.request("b")
        slots.prepared("b", succeeded: true)
        // Preparing "a" from disk pushes "b" out of its slot; host has room for it ("c" and "b").
        #expect(slots.request("a") == .prepare(demotions: [.init(name: "b", to: .host)]))
        slots.prepared("a", succeeded: false)
        #expect(slots.tier(of: "a") == .disk)
        #expect(slots.count(.resident) == 0)
    }
}
