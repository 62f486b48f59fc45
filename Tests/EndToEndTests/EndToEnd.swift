import Foundation
import PatchworkTesting
import Testing

/// Every end-to-end test starts real processes; they run one at a time so that timing checks
/// (a dead worker gone within 5 s) measure the product, not a machine crowded by other tests.
@Suite(.serialized) struct EndToEnd {}

extension EndToEnd {
    static let qv = "file://" + TestPaths.adapter("smollm2-qv-r8").path
    static let all = "file://" + TestPaths.adapter("smollm2-all-r4").path
    static let rslora = "file://" + TestPaths.adapter("smollm2-qkvo-rslora-r16").path

    /// `/v1/models` ids, and the parent of each ("" for a base model, whose parent is null).
    static func models(_ frontend: Cluster.Frontend) async throws -> [String: String] {
        let response = try await HTTPClient.get(port: frontend.httpPort, path: "/v1/models")
        let data = try response.json()["data"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: data.map { ($0["id"] as! String, $0["parent"] as? String ?? "") })
    }

    static func load(_ worker: Cluster.Worker, name: String, uri: String) async throws -> HTTPClient.Response {
        try await HTTPClient.post(port: worker.systemPort, path: "/v1/loras", json: ["lora_name": name, "source": ["uri": uri]])
    }

    /// A Prometheus sample's value from `/metrics`.
    static func metric(_ name: String, port: Int) async throws -> Double? {
        let text = try await HTTPClient.get(port: port, path: "/metrics").text
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}
