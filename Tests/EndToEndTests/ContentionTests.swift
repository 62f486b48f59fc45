import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// A loaded host is normal in production: with every core taken by other processes and the
    /// cluster itself busy, no live worker is declared dead and no request fails.
    @Suite struct Contention {
        /// Processes that spin on every core until stopped.
        final class CPUHogs: Sendable {
            let processes: [ManagedProcess]

            init(count: Int, logDirectory: URL) throws {
                processes = try (0..<count).map { i in
                    try ManagedProcess(name: "hog-\(i)", executable: URL(fileURLWithPath: TestPaths.python), arguments: ["-c", "while True: pass"], logDirectory: logDirectory)
                }
            }

            func stop() { for process in processes { process.stop(grace: .milliseconds(100)) } }
        }

        @Test func aBusyHostDeclaresNoLiveWorkerDead() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                // Fast heartbeats: 0.6 s of silence is death.
                for _ in 0..<2 { _ = try await cluster.startWorker(routers: [router], arguments: ["--heartbeat-interval", "0.2"]) }
                let frontend = try await cluster.startFrontend(routers: [router])
                try #require(await eventually { ((try? await HTTPClient.get(port: router.systemPort, path: "/cluster").json())?["workers"] as? [Any])?.count == 2 })
                let hogs = try CPUHogs(count: ProcessInfo.processInfo.activeProcessorCount, logDirectory: cluster.logDirectory)
                defer { hogs.stop() }
                let body = try JSONSerialization.data(withJSONObject: [
                    "model": "SmolLM2-135M-Instruct", "messages": [["role": "user", "content": "Write a story about the sea."]],
                    "max_tokens": 24, "temperature": 0, "ignore_eos": true, "stream": true,
                ] as [String: Any])
                let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for _ in 0..<12 {
                        group.addTask {
                            let response = try await HTTPClient.request("POST", port: frontend.httpPort, path: "/v1/chat/completions", body: body, timeout: 120)
                            return (response.status, response.text)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                hogs.stop()
                let failed = results.filter { $0.0 != 200 || $0.1.contains("\"error\"") || !$0.1.contains("[DONE]") }
                try #require(failed.isEmpty, "\(failed.count) of \(results.count) failed: \(failed.first.map { "\($0.0) \($0.1.suffix(300))" } ?? "")")
                #expect(try await EndToEnd.metric("patchwork_router_dead_workers_total", port: router.systemPort) ?? 0 == 0)
                #expect(!router.process.log.contains("worker declared dead"))
            }
        }
    }
}
