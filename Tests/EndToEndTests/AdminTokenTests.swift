import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// Workers and routers with `--admin-token-file`: management routes ask for the token (401
    /// without, 403 with another), `/health` and `/metrics` stay open, serving is unaffected,
    /// and the token never reaches a log.
    @Suite struct AdminTokens {
        static func send(_ method: String, _ port: Int, _ path: String, token: String?, json: Any? = nil) async throws -> HTTPClient.Response {
            try await HTTPClient.request(
                method, port: port, path: path, body: try json.map { try JSONSerialization.data(withJSONObject: $0) },
                headers: token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
            )
        }

        @Test func managementRoutesAskForTheToken() async throws {
            try await withCluster { cluster in
                let tokenFile = cluster.logDirectory.appendingPathComponent("admin-token")
                try Data("  admin-s3cret-1234\n".utf8).write(to: tokenFile)
                let guarded = ["--admin-token-file", tokenFile.path]
                let router = try await cluster.startRouter(arguments: guarded)
                let worker = try await cluster.startWorker(routers: [router], arguments: guarded)
                let frontend = try await cluster.startFrontend(routers: [router])
                let load: [String: Any] = ["lora_name": "qv", "source": ["uri": EndToEnd.qv]]

                let anonymous = try await Self.send("POST", worker.systemPort, "/v1/loras", token: nil, json: load)
                #expect(anonymous.status == 401 && anonymous.headers["www-authenticate"] == "Bearer", "\(anonymous.text)")
                #expect((try anonymous.json())["status"] as? String == "error")
                #expect(try await Self.send("POST", worker.systemPort, "/v1/loras", token: "admin-s3cret-123", json: load).status == 403)
                #expect(try await Self.send("GET", worker.systemPort, "/v1/loras", token: nil).status == 401)
                #expect(try await Self.send("DELETE", worker.systemPort, "/v1/loras/qv", token: "wrong").status == 403)
                let loaded = try await Self.send("POST", worker.systemPort, "/v1/loras", token: "admin-s3cret-1234", json: load)
                #expect(loaded.status == 200, "\(loaded.text)")

                #expect(try await Self.send("GET", router.systemPort, "/cluster", token: nil).status == 401)
                #expect(try await Self.send("GET", router.systemPort, "/cluster", token: "admin").status == 403)
                let view = try await Self.send("GET", router.systemPort, "/cluster", token: "admin-s3cret-1234")
                #expect(view.status == 200 && view.text.contains("qv"), "\(view.text)")
                for port in [worker.systemPort, router.systemPort] {
                    for path in ["/health", "/metrics"] { #expect(try await Self.send("GET", port, path, token: nil).status == 200, "\(path) on \(port)") }
                }
                // Serving does not need the token: the adapter answers through the frontend.
                #expect(await eventually(timeout: .seconds(10)) { (try? await EndToEnd.models(frontend))?["qv"] != nil })
                let answer = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: ["model": "qv", "prompt": "Hi", "max_tokens": 2])
                #expect(answer.status == 200, "\(answer.text)")
                #expect(try await Self.send("DELETE", worker.systemPort, "/v1/loras/qv", token: "admin-s3cret-1234").status == 200)
                #expect(!cluster.logs.contains("admin-s3cret"), "the token reached a log")
                #expect(worker.process.log.contains("management routes ask for the admin token"))
            }
        }

        /// Without a token a process says its management routes are on loopback, and warns when
        /// told to listen elsewhere.
        @Test func withoutATokenManagementStaysOnLoopback() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                #expect(router.process.log.contains("management routes listen on loopback only"))
                let worker = try await cluster.startWorker(routers: [router], arguments: ["--system-host", "0.0.0.0"])
                #expect(worker.process.log.contains("management routes are open to anyone who reaches 0.0.0.0"))
            }
        }
    }
}
