import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus

/// A process's health, as `/health` reports it.
public struct HealthReport: Sendable, Encodable {
    public var healthy: Bool
    public var status: String
    /// Facts worth seeing at a glance (`workers: 2`, `router: connected`).
    public var details: [String: String]

    public init(healthy: Bool, status: String, details: [String: String] = [:]) {
        self.healthy = healthy
        self.status = status
        self.details = details
    }
}

extension Router where Context == BasicRequestContext {
    /// Adds `GET /health` (200 when healthy, 503 when not, JSON either way) and `GET /metrics`
    /// (Prometheus text format) — the two routes every Patchwork process serves.
    public func addSystemRoutes(
        registry: PrometheusCollectorRegistry, health: @escaping @Sendable () async -> HealthReport
    ) {
        get("/health") { _, _ -> Response in
            let report = await health()
            return .json(report, status: report.healthy ? .ok : .serviceUnavailable)
        }
        get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}

extension Response {
    /// A JSON response (keys sorted, so bodies are stable).
    public static func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response encoding failed"}"#.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
