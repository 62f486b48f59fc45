import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// The adapter API and the frontend agree at once: a completion sent the moment
    /// `POST /v1/loras` answers 200 is served by the new adapter, and one sent the moment
    /// `DELETE` answers 200 is a 404 `model_not_found`, as vLLM and OpenAI answer for a model
    /// that is not served; neither waits for the view to reach the frontend.
    @Suite struct AdapterViewConsistency {
        @Test func completionsRightAfterLoadAndUnloadSeeTheChange() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                let worker = try await cluster.startWorker(routers: [router])
                let frontend = try await cluster.startFrontend(routers: [router])
                func complete(_ model: String) async throws -> HTTPClient.Response {
                    try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: [
                        "model": model, "prompt": "The capital of France is", "max_tokens": 2, "temperature": 0,
                    ])
                }
                // The frontend must not have seen the name: so a listing lists it in between.
                #expect(try await EndToEnd.models(frontend)["fresh"] == nil)
                for round in 0..<4 {
                    let load = try await EndToEnd.load(worker, name: "fresh", uri: EndToEnd.qv)
                    #expect(load.status == 200, "round \(round): \(load.text)")
                    let served = try await complete("fresh")
                    #expect(served.status == 200, "round \(round), right after the load: \(served.text)")
                    // Listing the models makes the name known to the frontend as well.
                    #expect(try await EndToEnd.models(frontend)["fresh"] == "SmolLM2-135M-Instruct")

                    #expect(try await HTTPClient.delete(port: worker.systemPort, path: "/v1/loras/fresh").status == 200)
                    let gone = try await complete("fresh")
                    #expect(gone.status == 404, "round \(round), right after the unload: \(gone.text)")
                    #expect((try gone.json()["error"] as? [String: Any])?["code"] as? String == "model_not_found", "\(gone.text)")
                }
                // Once settled it stays 404, and the base model is served as before.
                try await Task.sleep(for: .seconds(1.5))
                #expect(try await complete("fresh").status == 404)
                #expect(try await complete("SmolLM2-135M-Instruct").status == 200)
                #expect(try await HTTPClient.get(port: frontend.httpPort, path: "/v1/models/fresh").status == 404)
            }
        }
    }
}
