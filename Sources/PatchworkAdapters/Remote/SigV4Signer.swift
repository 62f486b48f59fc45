import Foundation

/// AWS credentials, from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 (header form), written from AWS's specification:
///
///     CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
///                        SignedHeaders \n HexSHA256(payload)
///     StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n HexSHA256(CanonicalRequest)
///     Scope            = yyyyMMdd/region/service/aws4_request
///     SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyyMMdd), region), service), "aws4_request")
///     Signature        = Hex(HMAC(SigningKey, StringToSign))
///
/// S3 paths are URI-encoded once, segment by segment, and not normalized; the caller passes the
/// path exactly as it is sent.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// SHA-256 of an empty payload, the payload hash of every GET.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add to a request: `x-amz-date`, `x-amz-security-token` when there is a
    /// session token, and `authorization`. `headers` must include `host` and every other header
    /// to be signed (S3 wants `x-amz-content-sha256` among them).
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, date: Date
    ) -> [(String, String)] {
        var added = [("x-amz-date", Self.timestamp(date).dateTime)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        let authorization = authorization(method: method, path: path, query: query, headers: headers + added, payloadHash: payloadHash, date: date)
        return added + [("authorization", authorization)]
    }

    /// The `Authorization` header value for a request whose headers already include `x-amz-date`.
    public func authorization(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, date: Date
    ) -> String {
        let stamp = Self.timestamp(date)
        let (canonical, signedHeaders) = Self.canonicalRequest(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let scope = "\(stamp.date)/\(region)/\(service)/aws4_request"
        let toSign = Self.stringToSign(dateTime: stamp.dateTime, scope: scope, canonicalRequest: canonical)
        let key = Self.signingKey(secret: credentials.secretAccessKey, date: stamp.date, region: region, service: service)
        let signature = Hashing.hex(Hashing.hmacSHA256(key: key, toSign))
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    public static func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> (request: String, signedHeaders: String) {
        let encoded: [(key: String, value: String)] = query.map { (key: uriEncode($0.0), value: uriEncode($0.1)) }
        let sorted = encoded.sorted { a, b in a.key == b.key ? a.value < b.value : a.key < b.key }
        let canonicalQuery = sorted.map { pair in pair.key + "=" + pair.value }.joined(separator: "&")
        // Lowercased names; values trimmed with inner runs of spaces collapsed; repeated names joined by commas.
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed.trimmingCharacters(in: .whitespaces))
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let request = [method, path.isEmpty ? "/" : path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        return (request, signedHeaders)
    }

    public static func stringToSign(dateTime: String, scope: String, canonicalRequest: String) -> String {
        "AWS4-HMAC-SHA256\n\(dateTime)\n\(scope)\n\(Hashing.sha256Hex(canonicalRequest))"
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let dateKey = Hashing.hmacSHA256(key: Array("AWS4\(secret)".utf8), date)
        let regionKey = Hashing.hmacSHA256(key: dateKey, region)
        let serviceKey = Hashing.hmacSHA256(key: regionKey, service)
        return Hashing.hmacSHA256(key: serviceKey, "aws4_request")
    }

    /// AWS's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex);
    /// `/` is kept when `keepSlash` (object key paths).
    public static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if unreserved[Int(byte)] || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let unreserved: [Bool] = (0..<256).map { value in
        let scalar = Unicode.Scalar(UInt8(value))
        return ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || "-_.~".unicodeScalars.contains(scalar)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` and `yyyyMMdd` in UTC.
    public static func timestamp(_ date: Date) -> (dateTime: String, date: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let day = String(format: "%04d%02d%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday)
        return ("\(day)T" + String(format: "%02d%02d%02dZ", parts.tm_hour, parts.tm_min, parts.tm_sec), day)
    }
}
