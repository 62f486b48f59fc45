import Foundation
import PatchworkCore
import PatchworkHTTP
import PatchworkRouting

/// The two Kubernetes API calls the adapter controller makes: list the `PatchworkAdapter`
/// objects of a namespace, and patch one's status. In a pod it authenticates with the service
/// account's token and trusts the cluster's CA (the paths below); both can be given for tests.
struct KubernetesAPI: Sendable {
    static let serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"
    static let group = "patchwork.dev", version = "v1alpha1", plural = "patchworkadapters"

    var server: String
    var namespace: String
    var tokenFile: String?
    var caFile: String?

    /// Where the API is, from `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` (set in every pod).
    static func inClusterServer(environment: [String: String]) -> String? {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else { return nil }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        return host.contains(":") ? "https://[\(host)]:\(port)" : "https://\(host):\(port)"
    }

    /// The pod's own namespace.
    static func inClusterNamespace() -> String? {
        (try? String(contentsOfFile: serviceAccount + "/namespace", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private var collection: String { "\(server)/apis/\(Self.group)/\(Self.version)/namespaces/\(namespace)/\(Self.plural)" }

    /// Every object, parsed; objects with invalid specs come back as problems to report.
    func list() throws(Failure) -> (declarations: [AdapterDeclaration], invalid: [(name: String, problem: String)]) {
        let response = try send(HTTPRequest(url: collection, headers: headers()))
        struct List: Decodable {
            struct Item: Decodable {
                struct Metadata: Decodable { var name: String; var generation: Int? }
                struct Spec: Decodable {
                    struct Source: Decodable { var uri: String }
                    var loraName: String?
                    var baseModel: String?
                    var source: Source?
                    var replicas: Int?
                }
                var metadata: Metadata
                var spec: Spec?
            }
            var items: [Item]
        }
        let list: List
        do { list = try JSONDecoder().decode(List.self, from: response.body) } catch {
            throw Failure(description: "the API server's \(Self.plural) list is not what Kubernetes sends: \(error)")
        }
        var declarations: [AdapterDeclaration] = [], invalid: [(String, String)] = []
        for item in list.items {
            let name = item.metadata.name
            guard let spec = item.spec, let baseModelText = spec.baseModel, let uri = spec.source?.uri else {
                invalid.append((name, "spec.baseModel and spec.source.uri are required"))
                continue
            }
            guard let loraName = try? AdapterName(spec.loraName ?? name) else {
                invalid.append((name, "'\(spec.loraName ?? name)' is not a valid adapter name"))
                continue
            }
            let baseModel: ModelName
            do { baseModel = try ModelName(baseModelText) } catch {
                invalid.append((name, "spec.baseModel '\(baseModelText)': \(error)"))
                continue
            }
            declarations.append(AdapterDeclaration(
                objectName: name, loraName: loraName, baseModel: baseModel, source: uri, replicas: max(0, spec.replicas ?? 1),
                generation: item.metadata.generation ?? 0
            ))
        }
        return (declarations, invalid)
    }

    /// Replaces the object's status (merge patch on the status subresource).
    func patchStatus(objectName: String, _ status: AdapterDeclaration.Status) throws(Failure) {
        struct Patch: Encodable { var status: AdapterDeclaration.Status }
        guard let body = try? JSONEncoder().encode(Patch(status: status)) else { return }
        _ = try send(HTTPRequest(
            method: "PATCH", url: "\(collection)/\(objectName)/status",
            headers: headers() + [(name: "content-type", value: "application/merge-patch+json")], body: body
        ))
    }

    private func headers() -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [(name: "accept", value: "application/json")]
        // Re-read each time: Kubernetes rotates projected service-account tokens.
        if let tokenFile, let token = try? String(contentsOfFile: tokenFile, encoding: .utf8) {
            headers.append((name: "authorization", value: "Bearer \(token.trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        return headers
    }

    private func send(_ request: HTTPRequest) throws(Failure) -> HTTPResponse {
        var request = request
        request.caFile = caFile
        let response: HTTPResponse
        do {
            response = try HTTPTransfer.perform(request, to: .memory, limits: TransferLimits(connectTimeout: 5, requestTimeout: 15, maxBodyBytes: 64 << 20))
        } catch {
            throw Failure(description: "cannot reach the Kubernetes API at \(server): \(error.message)")
        }
        guard (200..<300).contains(response.status) else {
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw Failure(description: "the Kubernetes API answered \(response.status) to \(request.method) \(request.url): \(detail)")
        }
        return response
    }
}
