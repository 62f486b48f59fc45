import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// A frontend with `--api-keys`: tenants, model patterns, limits and reloads, checked with
    /// the official `openai` client and raw HTTP (api_key_checks.py).
    @Suite struct APIKeys {
        @Test func keysTenantsLimitsAndReloads() async throws {
            try await withCluster { cluster in
                let keys = cluster.logDirectory.appendingPathComponent("api-keys.json")
                let file: [String: Any] = ["keys": [
                    ["key": "sk-acme", "tenant": "acme", "models": ["SmolLM2-135M-Instruct", "acme/*"]],
                    ["key": "sk-beta", "tenant": "beta", "models": ["*"]],
                    ["key": "sk-slow", "tenant": "slow", "models": ["*"], "requests_per_second": 1],
                    ["key": "sk-tokens", "tenant": "tokens", "models": ["*"], "tokens_per_minute": 60],
                ]]
                try JSONSerialization.data(withJSONObject: file).write(to: keys)
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router], arguments: ["--api-keys", keys.path])
                for name in ["acme/upper", "beta/upper"] { #expect(try await EndToEnd.load(worker, name: name, uri: EndToEnd.qv).status == 200) }
                // Both adapters in the frontend's view, asked with the key that may see everything.
                #expect(await eventually(timeout: .seconds(10)) {
                    let listed = try? await HTTPClient.request("GET", port: frontend.httpPort, path: "/v1/models", headers: ["Authorization": "Bearer sk-beta"]).text
                    return listed?.contains("acme/upper") == true && listed?.contains("beta/upper") == true
                })
                let checks = try await ProgramRun.run(TestPaths.python, [
                    TestPaths.fixtures.deletingLastPathComponent().appendingPathComponent("EndToEndTests/api_key_checks.py").path,
                    "http://127.0.0.1:\(frontend.httpPort)", keys.path,
                ])
                print(checks.output)
                #expect(checks.status == 0, "\(checks.output)\n\(cluster.logs)")
                #expect(checks.output.contains("all checks passed"))
                // SIGHUP reloads an unchanged file at once (the file watch would not).
                let reloads = { frontend.process.log.components(separatedBy: "API keys reloaded").count - 1 }
                try JSONSerialization.data(withJSONObject: file).write(to: keys)
                #expect(await eventually(timeout: .seconds(5)) { reloads() >= 2 })
                let before = reloads()
                kill(frontend.process.pid, SIGHUP)
                #expect(await eventually(timeout: .seconds(3)) { reloads() == before + 1 })
                try await Task.sleep(for: .seconds(1.5))
                #expect(reloads() == before + 1, "the watch reloaded an unchanged file")
                let log = frontend.process.log
                #expect(log.contains("the previous keys stay in force"))
                // Keys never reach the log.
                #expect(!log.contains("sk-acme") && !log.contains("sk-new"))
            }
        }
    }
}
