import Foundation
import PatchworkHTTP

/// One object of a listing.
struct S3Object: Sendable, Equatable {
    var key: String
    var size: Int64
    /// Without quotes. For single-part uploads it is the hex MD5 of the contents.
    var etag: String
}

/// The two S3 calls an adapter fetch needs, ListObjectsV2 and GetObject, signed with
/// ``SigV4Signer`` and retried by ``RetryPolicy``. Blocking: run it on a ``BlockingThread``.
struct S3Client: Sendable {
    var configuration: S3Configuration
    var retry = RetryPolicy()
    var limits = TransferLimits()
    /// `max-keys` of each listing page (S3's own maximum is 1000).
    var pageSize = 1000
    /// Never connect to link-local or cloud-metadata addresses (SSRF); off only when configured.
    var refusesLinkLocal = true
    var now: @Sendable () -> Date = { Date() }
    var onRetry: @Sendable (String) -> Void = { _ in }

    /// Every object under the location's prefix, following continuation tokens.
    func list(_ location: S3Location, deadline: ContinuousClock.Instant) throws(AdapterError) -> [S3Object] {
        var objects: [S3Object] = []
        var token: String?
        repeat {
            let query = Self.listQuery(location, pageSize: pageSize, continuationToken: token)
            let response = try send(bucket: location.bucket, key: nil, query: query, to: .memory, limits: limits, deadline: deadline, what: location.description)
            let xml = String(decoding: response.body, as: UTF8.self)[...]
            for block in S3XML.elements("Contents", in: xml) {
                guard let key = S3XML.value("Key", in: block) else { continue }
                let size = S3XML.value("Size", in: block).flatMap { Int64($0) } ?? 0
                let etag = (S3XML.value("ETag", in: block) ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                objects.append(S3Object(key: key, size: size, etag: etag))
            }
            let truncated = S3XML.value("IsTruncated", in: xml) == "true"
            token = truncated ? S3XML.value("NextContinuationToken", in: xml) : nil
            if truncated && token == nil {
                throw AdapterError(.upstreamFailure, "\(location): the store said the listing is truncated but gave no continuation token")
            }
        } while token != nil
        return objects
    }

    /// The ListObjectsV2 query of one page: everything under `prefix/` (no delimiter, so nested
    /// folders are listed too; the slash keeps `a/v1` from matching `a/v10/...`).
    static func listQuery(_ location: S3Location, pageSize: Int, continuationToken: String?) -> [(String, String)] {
        var query = [("list-type", "2"), ("max-keys", "\(pageSize)")]
        if !location.listingPrefix.isEmpty { query.append(("prefix", location.listingPrefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        return query
    }

    /// One GET as it goes on the wire: the key's path and the query URI-encoded once, exactly as
    /// the signature covers them (S3 paths are not normalized), with `host`,
    /// `x-amz-content-sha256` and, when there are credentials, the signature at `date`.
    func request(base: (scheme: String, host: String, pathPrefix: String), key: String?, query: [(String, String)], date: Date) -> HTTPRequest {
        let path = base.pathPrefix + "/" + (key.map { SigV4Signer.uriEncode($0, keepSlash: true) } ?? "")
        let queryString = query.map { "\(SigV4Signer.uriEncode($0.0))=\(SigV4Signer.uriEncode($0.1))" }.joined(separator: "&")
        let url = "\(base.scheme)://\(base.host)\(path)" + (queryString.isEmpty ? "" : "?\(queryString)")
        var headers = [("host", base.host), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)]
        if let credentials = configuration.credentials {
            let signer = SigV4Signer(credentials: credentials, region: configuration.region, service: "s3")
            headers += signer.sign(method: "GET", path: path, query: query, headers: headers, payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        }
        var request = HTTPRequest(method: "GET", url: url, headers: headers.map { (name: $0.0, value: $0.1) })
        request.refusesLinkLocal = refusesLinkLocal
        return request
    }

    /// Downloads one object into `file`; returns its size.
    func download(
        bucket: String, key: String, to file: URL, maxBytes: Int64, deadline: ContinuousClock.Instant,
        progress: @escaping (Int64, Int64) -> Bool
    ) throws(AdapterError) -> Int64 {
        var objectLimits = limits
        objectLimits.maxBodyBytes = maxBytes
        let response = try send(
            bucket: bucket, key: key, query: [], to: .file(file), limits: objectLimits, deadline: deadline,
            what: "s3://\(bucket)/\(key)", progress: progress
        )
        return response.bytesWritten
    }

    private func send(
        bucket: String, key: String?, query: [(String, String)], to destination: HTTPDestination, limits: TransferLimits,
        deadline: ContinuousClock.Instant, what: String, progress: ((Int64, Int64) -> Bool)? = nil
    ) throws(AdapterError) -> HTTPResponse {
        let base = try configuration.base(for: bucket)
        let response: HTTPResponse
        do {
            response = try retry.run(deadline: deadline, onRetry: { attempt, reason in onRetry("\(what): attempt \(attempt) failed (\(reason)), retrying") }) { left throws(TransferError) in
                // Signed anew for each attempt: the signature covers the time.
                let request = request(base: base, key: key, query: query, date: now())
                var attemptLimits = limits
                attemptLimits.requestTimeout = limits.requestTimeout > 0 ? min(limits.requestTimeout, left) : left
                return try HTTPTransfer.perform(request, to: destination, limits: attemptLimits, progress: progress)
            }
        } catch {
            throw AdapterError(transfer: error, what: what, endpoint: "\(base.scheme)://\(base.host)")
        }
        guard (200..<300).contains(response.status) else { throw Self.failure(response, what: what) }
        return response
    }

    /// A non-2xx answer as an error that says what happened in the user's terms.
    static func failure(_ response: HTTPResponse, what: String) -> AdapterError {
        let xml = String(decoding: response.body, as: UTF8.self)[...]
        let code = S3XML.value("Code", in: xml) ?? "HTTP \(response.status)"
        let detail = S3XML.value("Message", in: xml).map { "\(code): \($0)" } ?? code
        switch response.status {
        case 403:
            return AdapterError(.forbidden, "\(what): the store refused the credentials (403 \(detail)); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy")
        case 401:
            return AdapterError(.forbidden, "\(what): the store asks for credentials (401 \(detail)); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        case 404:
            return AdapterError(.notFound, code == "NoSuchBucket" ? "\(what): no such bucket (404 \(detail))" : "\(what): nothing there (404 \(detail))")
        case 301, 307, 400:
            return AdapterError(.badRequest, "\(what): the store refused the request (\(response.status) \(detail)); check AWS_REGION and the endpoint")
        default:
            return AdapterError(.upstreamFailure, "\(what): the store failed (\(response.status) \(detail))")
        }
    }
}
