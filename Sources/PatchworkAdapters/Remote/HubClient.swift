import Foundation
import PatchworkHTTP

/// The Hugging Face Hub's download protocol, enough to fetch an adapter:
///
/// - `GET {endpoint}/api/models/{repo}/revision/{revision}` → `{"sha": commit, "siblings": [{"rfilename": ...}]}`
/// - `GET {endpoint}/{repo}/resolve/{commit}/{file}` → the file, often through a redirect to a CDN.
///
/// `HF_ENDPOINT` (default `https://huggingface.co`) and `HF_TOKEN` (sent as a bearer token to the
/// endpoint's host only; libcurl does not forward it across redirects to other hosts).
/// Blocking: run it on a ``BlockingThread``.
struct HubClient: Sendable {
    static let defaultEndpoint = "https://huggingface.co"

    var endpoint: String
    var token: String?
    var retry = RetryPolicy()
    var limits = TransferLimits()
    /// Never connect to link-local or cloud-metadata addresses, also after the Hub's redirects
    /// (SSRF); off only when configured.
    var refusesLinkLocal = true
    var onRetry: @Sendable (String) -> Void = { _ in }

    init(environment: [String: String]) {
        let configured = environment["HF_ENDPOINT"]?.trimmingCharacters(in: .whitespaces) ?? ""
        endpoint = configured.isEmpty ? Self.defaultEndpoint : (configured.hasSuffix("/") ? String(configured.dropLast()) : configured)
        let token = (environment["HF_TOKEN"] ?? environment["HUGGING_FACE_HUB_TOKEN"])?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.token = token?.isEmpty == false ? token : nil
    }

    struct Revision: Sendable, Equatable {
        var commit: String
        var files: [String]
        /// Sizes the Hub reported (`blobs=true`).
        var sizes: [String: Int64]
    }

    /// The commit a revision names now, and the repository's files at that commit.
    func resolve(_ location: HubLocation, deadline: ContinuousClock.Instant) throws(AdapterError) -> Revision {
        let url = "\(endpoint)/api/models/\(Self.encodePath(location.repository))/revision/\(SigV4Signer.uriEncode(location.revision))?blobs=true"
        let response = try send(url, to: .memory, limits: limits, deadline: deadline, location: location, what: location.description)
        struct Info: Decodable {
            struct Sibling: Decodable { var rfilename: String; var size: Int64? }
            var sha: String
            var siblings: [Sibling]?
        }
        guard let info = try? JSONDecoder().decode(Info.self, from: response.body) else {
            throw AdapterError(.upstreamFailure, "\(location): \(endpoint) answered the revision request with something that is not the Hub's JSON")
        }
        let siblings = info.siblings ?? []
        return Revision(
            commit: info.sha, files: siblings.map(\.rfilename),
            sizes: Dictionary(siblings.compactMap { s in s.size.map { (s.rfilename, $0) } }, uniquingKeysWith: { a, _ in a })
        )
    }

    /// Downloads one file of the repository at `commit` into `file`; returns its size.
    func download(
        _ location: HubLocation, commit: String, path: String, to file: URL, maxBytes: Int64, deadline: ContinuousClock.Instant,
        progress: @escaping (Int64, Int64) -> Bool
    ) throws(AdapterError) -> Int64 {
        let url = "\(endpoint)/\(Self.encodePath(location.repository))/resolve/\(commit)/\(Self.encodePath(path))"
        var fileLimits = limits
        fileLimits.maxBodyBytes = maxBytes
        let response = try send(url, to: .file(file), limits: fileLimits, deadline: deadline, location: location, what: "\(location)/\(path)", progress: progress)
        return response.bytesWritten
    }

    private func send(
        _ url: String, to destination: HTTPDestination, limits: TransferLimits, deadline: ContinuousClock.Instant,
        location: HubLocation, what: String, progress: ((Int64, Int64) -> Bool)? = nil
    ) throws(AdapterError) -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        if let token { headers.append((name: "authorization", value: "Bearer \(token)")) }
        let response: HTTPResponse
        do {
            response = try retry.run(deadline: deadline, onRetry: { attempt, reason in onRetry("\(what): attempt \(attempt) failed (\(reason)), retrying") }) { left throws(TransferError) in
                var attemptLimits = limits
                attemptLimits.requestTimeout = limits.requestTimeout > 0 ? min(limits.requestTimeout, left) : left
                var request = HTTPRequest(url: url, headers: headers, followRedirects: true)
                request.refusesLinkLocal = refusesLinkLocal
                return try HTTPTransfer.perform(request, to: destination, limits: attemptLimits, progress: progress)
            }
        } catch {
            throw AdapterError(transfer: error, what: what, endpoint: endpoint)
        }
        guard (200..<300).contains(response.status) else { throw failure(response, location: location, what: what) }
        return response
    }

    private func failure(_ response: HTTPResponse, location: HubLocation, what: String) -> AdapterError {
        // The Hub explains itself in X-Error-Code / X-Error-Message headers or a JSON {"error": ...}.
        struct Body: Decodable { var error: String? }
        let message = response.headers["x-error-message"] ?? (try? JSONDecoder().decode(Body.self, from: response.body))?.error
        let detail = [response.headers["x-error-code"], message].compactMap { $0 }.joined(separator: ": ")
        let suffix = detail.isEmpty ? "" : " (\(detail))"
        switch response.status {
        case 401:
            return token == nil
                ? AdapterError(.forbidden, "\(what): the Hub wants a token (401): the repository is private or gated, or does not exist; set HF_TOKEN\(suffix)")
                : AdapterError(.forbidden, "\(what): the Hub refused HF_TOKEN (401): it is invalid or has no access to \(location.repository)\(suffix)")
        case 403:
            return AdapterError(.forbidden, "\(what): access denied (403): the repository is gated or the token lacks permission\(suffix)")
        case 404:
            return AdapterError(.notFound, "\(what): no such repository, revision or file on \(endpoint) (404)\(suffix)")
        default:
            return AdapterError(.upstreamFailure, "\(what): the Hub at \(endpoint) failed (\(response.status))\(suffix)")
        }
    }

    /// Percent-encodes each segment of a slash-separated path.
    static func encodePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { SigV4Signer.uriEncode(String($0)) }.joined(separator: "/")
    }
}
