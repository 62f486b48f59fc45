import Foundation
import PatchworkHTTP
import PatchworkTesting
import Testing

@testable import PatchworkAdapters

/// The requests `S3Client` sends for nested prefixes, keys with spaces, `+`, `=`, `%`, other
/// punctuation, non-ASCII (precomposed and decomposed accents, CJK, emoji) and continuation
/// tokens with `+`, `=`, `/`, built and signed exactly as the client sends them, against the URL
/// and the `Authorization` that botocore's `S3SigV4Auth` computed for the same requests
/// (`Tests/Fixtures/make_sigv4_vectors.py`). The expected values are botocore's, never this code's.
struct S3RequestSigningTests {
    struct Vector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var bucket: String
        var endpoint: String?
        var region: String
        var accessKey: String
        var secretKey: String
        var token: String?
        /// A listing: the source URI, page size and continuation token.
        var uri: String?
        var pageSize: Int?
        var continuationToken: String?
        /// A GetObject: the object's key.
        var key: String?
        var url: String
        var canonicalRequest: String
        var headers: [String: String]
        var testDescription: String { "\(name) \(uri ?? key ?? "")" }
    }

    struct VectorFile: Decodable {
        var time: String
        var cases: [Vector]
    }

    static let file: VectorFile? = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(VectorFile.self, from: TestPaths.vectors("sigv4_s3"))
    }()
    static let vectors = file?.cases ?? []
    /// The vectors' signing time, 2026-03-14T15:09:26Z.
    static let date = Date(timeIntervalSince1970: 1_773_500_966)

    @Test func vectorsCoverListingsAndObjectsOfEveryKind() throws {
        let file = try #require(Self.file)
        #expect(file.time == SigV4Signer.timestamp(Self.date).dateTime)
        #expect(Self.vectors.filter { $0.uri != nil }.count >= 20 && Self.vectors.filter { $0.key != nil }.count >= 20)
        #expect(Self.vectors.contains { $0.uri == "s3://my-models-bucket/loras/customer-support/v1" && $0.continuationToken?.contains("+") == true })
        #expect(Self.vectors.contains { $0.key?.contains("é日本") == true && $0.key?.contains(" ") == true && $0.key?.contains("+") == true })
        #expect(Self.vectors.contains { $0.endpoint == nil } && Self.vectors.contains { $0.token != nil })
    }

    @Test(arguments: vectors)
    func clientSignsAsBotocoreDoes(_ vector: Vector) throws {
        let configuration = S3Configuration(
            credentials: AWSCredentials(accessKeyID: vector.accessKey, secretAccessKey: vector.secretKey, sessionToken: vector.token),
            region: vector.region, endpoint: vector.endpoint.flatMap { URL(string: $0) }, allowHTTP: true
        )
        let client = S3Client(configuration: configuration)
        var query: [(String, String)] = []
        if let uri = vector.uri {
            guard case .s3(let location) = try AdapterSource(uri: uri) else {
                Issue.record("\(uri) is not an s3:// source")
                return
            }
            #expect(location.bucket == vector.bucket)
            query = S3Client.listQuery(location, pageSize: try #require(vector.pageSize), continuationToken: vector.continuationToken)
        }
        let request = client.request(base: try configuration.base(for: vector.bucket), key: vector.key, query: query, date: Self.date)
        let headers = Dictionary(request.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })

        #expect(request.url == vector.url)
        #expect(headers["authorization"] == vector.headers["authorization"], "botocore signed:\n\(vector.canonicalRequest)")
        for name in ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token"] {
            #expect(headers[name] == vector.headers[name], "\(name)")
        }
        #expect(headers["host"] == URLComponents(string: vector.url).map { c in c.port.map { "\(c.host ?? ""):\($0)" } ?? c.host ?? "" })
    }
}
