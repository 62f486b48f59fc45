import Foundation

/// How the worker reaches S3-compatible stores, read from the standard `AWS_*` variables.
///
/// | variable | meaning |
/// |---|---|
/// | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | credentials; none: anonymous requests |
/// | `AWS_REGION` (or `AWS_DEFAULT_REGION`) | signing region, default `us-east-1` |
/// | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT` | a custom endpoint (first set wins): MinIO, Ceph, moto... |
/// | `AWS_ALLOW_HTTP` | `true` or `1` to allow a plain-http endpoint |
/// | `AWS_S3_ADDRESSING_STYLE` | `path`, `virtual` or `auto` (default: path-style for custom endpoints, virtual-hosted for AWS) |
public struct S3Configuration: Sendable, Equatable {
    public enum Addressing: String, Sendable { case path, virtual, auto }

    public var credentials: AWSCredentials?
    public var region: String
    public var endpoint: URL?
    public var allowHTTP: Bool
    public var addressing: Addressing

    public init(credentials: AWSCredentials?, region: String = "us-east-1", endpoint: URL? = nil, allowHTTP: Bool = false, addressing: Addressing = .auto) {
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint
        self.allowHTTP = allowHTTP
        self.addressing = addressing
    }

    /// Reads the variables; malformed values are reported, not ignored.
    public static func fromEnvironment(_ environment: [String: String]) throws(AdapterError) -> S3Configuration {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        var credentials: AWSCredentials?
        switch (value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY")) {
        case (let id?, let secret?): credentials = AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN"))
        case (nil, nil): credentials = nil
        default: throw AdapterError(.badRequest, "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (anonymous access)")
        }
        var endpoint: URL?
        if let raw = value("AWS_ENDPOINT_URL_S3") ?? value("AWS_ENDPOINT_URL") ?? value("AWS_ENDPOINT") {
            guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
                throw AdapterError(.badRequest, "the S3 endpoint '\(raw)' is not an http(s) URL")
            }
            endpoint = url
        }
        let allowHTTP = ["1", "true", "yes"].contains(value("AWS_ALLOW_HTTP")?.lowercased() ?? "")
        let addressingName = value("AWS_S3_ADDRESSING_STYLE")?.lowercased() ?? "auto"
        guard let addressing = Addressing(rawValue: addressingName) else {
            throw AdapterError(.badRequest, "AWS_S3_ADDRESSING_STYLE must be path, virtual or auto, not '\(addressingName)'")
        }
        return S3Configuration(
            credentials: credentials, region: value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1",
            endpoint: endpoint, allowHTTP: allowHTTP, addressing: addressing
        )
    }

    /// Scheme, host (with port) and path prefix of requests for `bucket`.
    func base(for bucket: String) throws(AdapterError) -> (scheme: String, host: String, pathPrefix: String) {
        let scheme = endpoint?.scheme?.lowercased() ?? "https"
        if scheme == "http" && !allowHTTP {
            throw AdapterError(.badRequest, "the S3 endpoint \(endpoint?.absoluteString ?? "") is plain http; set AWS_ALLOW_HTTP=true to allow it")
        }
        var host = endpoint?.host ?? "s3.\(region).amazonaws.com"
        if let port = endpoint?.port { host += ":\(port)" }
        let basePath = endpoint.map { $0.path.hasSuffix("/") ? String($0.path.dropLast()) : $0.path } ?? ""
        // Dotted bucket names break TLS certificates under virtual hosting.
        let virtual = switch addressing {
        case .virtual: true
        case .path: false
        case .auto: endpoint == nil && !(scheme == "https" && bucket.contains("."))
        }
        return virtual ? (scheme, "\(bucket).\(host)", basePath) : (scheme, host, "\(basePath)/\(bucket)")
    }
}
