import PatchworkCore
import PatchworkRouting
import Testing

struct ApproximateCacheTests {
    let a = WorkerID("a"), b = WorkerID("b")

    @Test func decisionsFeedTheIndexUntilTheyExpire() {
        var cache = ApproximateCache(ttl: 10, blockSize: 4)
        var index = PrefixIndex(blockSize: 4)
        let prompt = Array(0..<10)  // two full blocks and a partial one
        index.apply(cache.record(tokens: prompt, adapter: nil, worker: a, now: 0), from: a)
        #expect(index.overlap(tokens: prompt, adapter: nil) == [a: 2])
        // Under an adapter the same tokens are other blocks.
        #expect(index.overlap(tokens: prompt, adapter: "x").isEmpty)

        // A second prompt sharing the first block, at t = 6, refreshes that block only.
        index.apply(cache.record(tokens: [0, 1, 2, 3, 9, 9, 9, 9], adapter: nil, worker: a, now: 6), from: a)
        #expect(cache.blockCount(of: a) == 3)
        for (worker, events) in cache.expire(now: 10) { index.apply(events, from: worker) }
        #expect(index.overlap(tokens: prompt, adapter: nil) == [a: 1])
        for (worker, events) in cache.expire(now: 16) { index.apply(events, from: worker) }
        #expect(index.overlap(tokens: prompt, adapter: nil).isEmpty)
        #expect(index.blockCount(of: a) == 0 && cache.blockCount(of: a) == 0)
    }

    @Test func aPromptRoutedAgainStaysUntilItsLastTime() {
        var cache = ApproximateCache(ttl: 10, blockSize: 2)
        var index = PrefixIndex(blockSize: 2)
        let prompt = [1, 2, 3, 4, 5, 6]
        index.apply(cache.record(tokens: prompt, adapter: "x", worker: a, now: 0), from: a)
        // Its first two blocks as a prompt of their own, then the whole prompt again at t = 8.
        index.apply(cache.record(tokens: Array(prompt[..<4]), adapter: "x", worker: a, now: 4), from: a)
        index.apply(cache.record(tokens: prompt, adapter: "x", worker: a, now: 8), from: a)
        #expect(cache.blockCount(of: a) == 3)
        #expect(cache.expire(now: 10).isEmpty)
        #expect(index.overlap(tokens: prompt, adapter: "x") == [a: 3])
        // The shorter prompt's time is up at 14, but the whole one still holds its blocks.
        #expect(cache.expire(now: 14).isEmpty)
        for (worker, events) in cache.expire(now: 18) { index.apply(events, from: worker) }
        #expect(index.overlap(tokens: prompt, adapter: "x").isEmpty)
        #expect(cache.blockCount(of: a) == 0 && index.blockCount(of: a) == 0)
    }

    @Test func workersAreSeparate() {
        var cache = ApproximateCache(ttl: 10, blockSize: 2)
        var index = PrefixIndex(blockSize: 2)
        index.apply(cache.record(tokens: [1, 2, 3, 4], adapter: "x", worker: a, now: 0), from: a)
        index.apply(cache.record(tokens: [1, 2], adapter: "x", worker: b, now: 5), from: b)
        #expect(index.overlap(tokens: [1, 2, 3, 4], adapter: "x") == [a: 2, b: 1])
        cache.forget(a)
        index.removeWorker(a)
        for (worker, events) in cache.expire(now: 12) { index.apply(events, from: worker) }
        #expect(index.overlap(tokens: [1, 2, 3, 4], adapter: "x") == [b: 1])
    }
}
