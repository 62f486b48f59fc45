import ArgumentParser
import Foundation
import PatchworkCore
import PatchworkRouting

/// `patchwork-router bench`: the prefix index's speed, on synthetic events.
///
/// 1. Ingestion: `BlockStored` events (chains of `--chain` blocks, shared system prefixes) applied
///    to the index on one core, in block events per second.
/// 2. Decisions: p50/p99 latency of an overlap lookup plus the cost function over `--workers`
///    workers once the index holds `--blocks` blocks.
struct RouterBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure the prefix index: event ingestion and decision latency.")

    @Option(help: "Workers in the simulated fleet.")
    var workers = 32

    @Option(help: "Blocks stored in the index in all.")
    var blocks = 1_000_000

    @Option(help: "Blocks per stored chain (a prompt).")
    var chain = 32

    @Option(help: "Decisions to time.")
    var decisions = 20_000

    func run() throws {
        let blockSize = 16
        var random = SystemRandomNumberGenerator()
        let ids = (0..<workers).map { WorkerID("w\($0)") }
        // Chains share one of 64 system prefixes of 8 blocks, then diverge.
        let prefixes = (0..<64).map { p in (0..<8 * blockSize).map { (p * 7919 + $0) % 49_000 } }
        var batches: [(WorkerID, [KVEvent])] = []
        var prompts: [[Int]] = []
        var hash: UInt64 = 1
        let chains = blocks / chain
        batches.reserveCapacity(chains)
        for c in 0..<chains {
            var tokens = prefixes[c % prefixes.count]
            while tokens.count < chain * blockSize { tokens.append(Int.random(in: 0..<49_000, using: &random)) }
            let hashes = (0..<chain).map { _ -> KVBlockHash in
                hash += 1
                return .integer(hash)
            }
            let event = KVEvent.blockStored(.init(blockHashes: hashes, parentBlockHash: nil, tokenIDs: tokens, blockSize: blockSize,
                                                  loraID: nil, medium: "CPU", loraName: c % 8 == 0 ? nil : "adapter-\(c % 8)"))
            batches.append((ids[c % workers], [event]))
            if c % 50 == 0 { prompts.append(tokens) }
        }
        var index = PrefixIndex(blockSize: blockSize)
        let start = ContinuousClock.now
        for (worker, events) in batches { index.apply(events, from: worker) }
        let seconds = Self.seconds(ContinuousClock.now - start)
        let stored = chains * chain
        print("1. ingestion: \(stored) block events in \(String(format: "%.2f", seconds)) s = \(String(format: "%.2f", Double(stored) / seconds / 1e6)) M block events/s on one core (target >= 1 M/s)")

        let cost = RoutingCost()
        var latencies: [Double] = []
        latencies.reserveCapacity(decisions)
        for d in 0..<decisions {
            let prompt = prompts[d % prompts.count]
            let adapter: String? = d % 8 == 0 ? nil : "adapter-\(d % 8)"
            let t0 = ContinuousClock.now
            let overlap = index.overlap(tokens: prompt, adapter: adapter)
            let candidates = ids.map { RoutingCost.Candidate(worker: $0, overlap: overlap[$0] ?? 0, busyBlocks: 0, tier: "resident") }
            _ = cost.choose(candidates, promptBlocks: prompt.count / blockSize)
            latencies.append(Self.seconds(ContinuousClock.now - t0) * 1e6)
        }
        latencies.sort()
        let p50 = latencies[latencies.count / 2], p99 = latencies[latencies.count * 99 / 100]
        print("2. decisions with \(workers) workers and \(stored) cached blocks: p50 \(String(format: "%.1f", p50)) µs, p99 \(String(format: "%.1f", p99)) µs (target p99 <= 50 µs)")
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}
