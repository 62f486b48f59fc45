import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// Every route each process's `/openapi.json` lists is called with the document's examples;
    /// statuses and bodies match the document (openapi_checks.py, jsonschema).
    @Suite struct OpenAPI {
        @Test func everyDocumentedOperationAnswersAsDocumented() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                let checks = try await ProgramRun.run(TestPaths.python, [
                    TestPaths.fixtures.deletingLastPathComponent().appendingPathComponent("EndToEndTests/openapi_checks.py").path,
                    "http://127.0.0.1:\(frontend.httpPort)", "http://127.0.0.1:\(worker.systemPort)", "http://127.0.0.1:\(router.systemPort)",
                ])
                print(checks.output)
                #expect(checks.status == 0, "\(checks.output)")
                #expect(checks.output.contains("operations called, 0 failures"))
            }
        }
    }
}
