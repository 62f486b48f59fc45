import Foundation
import Testing

@testable import PatchworkAdapters

/// AWS's published Signature Version 4 examples: the general test suite (service `service`,
/// 2015-08-30T12:36:00Z) and the S3 developer guide's examples (2013-05-24). The expected
/// signatures are AWS's, not this code's.
struct SigV4SignerTests {
    static let suite = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service"
    )
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let s3 = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "s3"
    )
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "GET"
        var path = "/"
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var signature: String
        var testDescription: String { name }
    }

    static let suiteVectors: [Vector] = [
        Vector(name: "get-vanilla", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(name: "post-vanilla", method: "POST", signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Vector(
            name: "get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ),
        Vector(
            name: "post-header-value-case", method: "POST", headers: [("My-Header1", "VALUE1")],
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"
        ),
        Vector(
            name: "get-header-value-trim", headers: [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        ),
        Vector(
            name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
        ),
    ]

    @Test(arguments: suiteVectors)
    func awsTestSuite(_ vector: Vector) {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")] + vector.headers
        let authorization = Self.suite.authorization(
            method: vector.method, path: vector.path, query: vector.query, headers: headers,
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate
        )
        let signedHeaders = (["host", "x-amz-date"] + vector.headers.map { $0.0.lowercased() }).sorted().joined(separator: ";")
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(vector.signature)")
    }

    @Test func s3GetObjectWithRange() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
        ]
        let authorization = Self.s3.authorization(method: "GET", path: "/test.txt", query: [], headers: headers, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(authorization.hasSuffix("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
    }

    @Test func s3ListObjects() {
        let headers = [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z")]
        let authorization = Self.s3.authorization(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")], headers: headers, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date
        )
        #expect(authorization.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    /// The signing-key derivation example of AWS's documentation.
    @Test func signingKey() {
        let key = SigV4Signer.signingKey(secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20120215", region: "us-east-1", service: "iam")
        #expect(Hashing.hex(key) == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func signAddsDateTokenAndAuthorization() {
        var signer = Self.suite
        signer.credentials.sessionToken = "TOKEN"
        let added = signer.sign(method: "GET", path: "/", query: [], headers: [("host", "example.amazonaws.com")], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        #expect(added.map(\.0) == ["x-amz-date", "x-amz-security-token", "authorization"])
        #expect(added[0].1 == "20150830T123600Z")
        #expect(added[2].1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"))
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b/c~d=é") == "a%20b%2Fc~d%3D%C3%A9")
        #expect(SigV4Signer.uriEncode("dir/file name.json", keepSlash: true) == "dir/file%20name.json")
    }
}
