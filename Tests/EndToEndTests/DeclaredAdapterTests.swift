import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// `PatchworkAdapter` objects (Kubernetes) kept loaded by the router's controller, against a
    /// small API server holding the objects (no cluster runs here).
    @Suite struct DeclaredAdapters {
        @Test func declaredAdaptersAreLoadedUpdatedAndRemoved() async throws {
            let kube = try await KubernetesTestServer()
            defer { kube.stop() }
            try await withCluster { cluster in
                let tokenFile = cluster.logDirectory.appendingPathComponent("token")
                try Data(kube.token.utf8).write(to: tokenFile)
                let router = try await cluster.startRouter(arguments: [
                    "--kubernetes", "--kubernetes-api", kube.endpoint, "--kubernetes-namespace", "serving",
                    "--kubernetes-token-file", tokenFile.path, "--kubernetes-resync", "0.5",
                ])
                let first = try await cluster.startWorker(routers: [router])
                let second = try await cluster.startWorker(routers: [router])
                let model = "SmolLM2-135M-Instruct"
                func loaded(_ worker: Cluster.Worker) async -> [String: Int] {
                    ((try? await HTTPClient.get(port: worker.systemPort, path: "/v1/loras").json())?["loras"] as? [String: Int]) ?? [:]
                }
                func status(_ name: String) async -> [String: Any] { (try? await kube.status(namespace: "serving", name: name)) ?? [:] }

                try await kube.apply(namespace: "serving", name: "qv", spec: ["baseModel": model, "source": ["uri": EndToEnd.qv], "replicas": 2])
                try await kube.apply(namespace: "serving", name: "sql", spec: ["loraName": "team/sql", "baseModel": model, "source": ["uri": EndToEnd.rslora]])
                try await kube.apply(namespace: "serving", name: "broken", spec: ["baseModel": model, "source": ["uri": "file:///no/such/adapter"]])
                try await kube.apply(namespace: "serving", name: "invalid", spec: ["source": ["uri": EndToEnd.qv]])

                #expect(await eventually(timeout: .seconds(10)) {
                    let a = await loaded(first), b = await loaded(second)
                    return a["qv"] != nil && b["qv"] != nil && (a["team/sql"] != nil) != (b["team/sql"] != nil)
                })
                #expect(await eventually(timeout: .seconds(5)) { await status("qv")["phase"] as? String == "Ready" })
                let qv = await status("qv")
                #expect(qv["loadedOn"] as? [String] == [first.id, second.id].sorted())
                #expect(qv["observedGeneration"] as? Int == 1)
                #expect(await eventually(timeout: .seconds(5)) { await status("sql")["phase"] as? String == "Ready" })
                #expect(await eventually(timeout: .seconds(5)) {
                    let broken = await status("broken")
                    return broken["phase"] as? String == "Failed" && (broken["message"] as? String)?.contains("does not exist") == true
                })
                #expect(await eventually(timeout: .seconds(5)) {
                    (await status("invalid")["message"] as? String)?.contains("spec.baseModel and spec.source.uri are required") == true
                })

                // A new source (a new generation): the workers unload the old adapter and load the new one.
                try await kube.apply(namespace: "serving", name: "qv", spec: ["baseModel": model, "source": ["uri": EndToEnd.all], "replicas": 2])
                #expect(await eventually(timeout: .seconds(10)) {
                    for worker in [first, second] {
                        let details = try? await HTTPClient.get(port: worker.systemPort, path: "/v1/loras/qv").json()
                        if details?["source"] as? String != EndToEnd.all { return false }
                    }
                    let current = await status("qv")
                    return current["phase"] as? String == "Ready" && current["observedGeneration"] as? Int == 2
                })

                // Deleted: unloaded everywhere.
                try await kube.delete(namespace: "serving", name: "qv")
                #expect(await eventually(timeout: .seconds(10)) {
                    let a = await loaded(first), b = await loaded(second)
                    return a["qv"] == nil && b["qv"] == nil
                })
                #expect(router.process.log.contains("watching PatchworkAdapter objects"))
                let metrics = try await HTTPClient.get(port: router.systemPort, path: "/metrics").text
                #expect(metrics.contains(#"patchwork_router_declared_adapter_loads_total{outcome="failure"}"#))
            }
        }
    }
}
