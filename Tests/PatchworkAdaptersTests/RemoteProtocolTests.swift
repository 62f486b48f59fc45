import Foundation
import PatchworkHTTP
import Testing

@testable import PatchworkAdapters

struct RemoteProtocolTests {
    /// A ListObjectsV2 page in the shape of S3's documentation, with an escaped key.
    @Test func readsAListingPage() {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>a/</Prefix>
        <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
        <Contents><Key>a/adapter_config.json</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1189</Size></Contents>
        <Contents><Key>a/R&amp;D &lt;notes&gt;.txt</Key><ETag>"x-2"</ETag><Size>7</Size></Contents>
        <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>
        """[...]
        let keys = S3XML.elements("Contents", in: xml).compactMap { S3XML.value("Key", in: $0) }
        #expect(keys == ["a/adapter_config.json", "a/R&D <notes>.txt"])
        #expect(S3XML.value("ETag", in: S3XML.elements("Contents", in: xml)[0]) == "\"0cc175b9c0f1b6a831c399e269772661\"")
        #expect(S3XML.value("IsTruncated", in: xml) == "true")
        #expect(S3XML.value("NextContinuationToken", in: xml) == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        #expect(S3XML.decodeEntities("&#65;&#x42;&unknown;") == "AB&unknown;")
    }

    @Test func errorsSayWhatHappened() {
        let denied = HTTPResponse(
            status: 403, headers: [:],
            body: Data("<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>".utf8),
            bytesWritten: 0
        )
        let error = S3Client.failure(denied, what: "s3://b/p")
        #expect(error.kind == .forbidden && error.message.contains("refused the credentials") && error.message.contains("SignatureDoesNotMatch"))
        #expect(S3Client.failure(HTTPResponse(status: 404, headers: [:], body: Data("<Error><Code>NoSuchBucket</Code></Error>".utf8), bytesWritten: 0), what: "s3://b").message.contains("no such bucket"))
        #expect(S3Client.failure(HTTPResponse(status: 503, headers: [:], body: Data(), bytesWritten: 0), what: "x").kind == .upstreamFailure)
    }

    @Test func configurationFromEnvironment() throws {
        let custom = try S3Configuration.fromEnvironment([
            "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true",
        ])
        #expect(custom.region == "us-east-1" && custom.credentials?.accessKeyID == "id")
        #expect(try custom.base(for: "bucket") == ("http", "127.0.0.1:9000", "/bucket"))
        let aws = try S3Configuration.fromEnvironment(["AWS_REGION": "eu-west-1"])
        #expect(aws.credentials == nil)
        #expect(try aws.base(for: "bucket") == ("https", "bucket.s3.eu-west-1.amazonaws.com", ""))
        #expect(try aws.base(for: "dotted.bucket") == ("https", "s3.eu-west-1.amazonaws.com", "/dotted.bucket"))
        let s3Specific = try S3Configuration.fromEnvironment(["AWS_ENDPOINT_URL_S3": "https://s3.example", "AWS_ENDPOINT_URL": "https://other", "AWS_S3_ADDRESSING_STYLE": "virtual"])
        #expect(try s3Specific.base(for: "bucket") == ("https", "bucket.s3.example", ""))
        let plain = try S3Configuration.fromEnvironment(["AWS_ENDPOINT": "http://minio:9000"])
        #expect { try plain.base(for: "bucket") } throws: { ($0 as? AdapterError)?.message.contains("AWS_ALLOW_HTTP") == true }
        #expect(throws: AdapterError.self) { try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "only-id"]) }
    }

    @Test func cacheStartUpRemovesLeftoversOfDeadProcessesOnly() throws {
        let folder = try TemporaryFolder()
        let layout = CacheLayout(root: folder.url)
        let dead = folder.url.appendingPathComponent(".partial-s3-aaaa-bbbb-999999-1")  // pid 999999 is not running
        let alive = folder.url.appendingPathComponent(".partial-s3-aaaa-bbbb-1-2")       // pid 1 always is
        let incomplete = folder.url.appendingPathComponent("s3-aaaa-cccc")              // no manifest
        for url in [dead, alive, incomplete] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        #expect(layout.removeLeftovers() == 1)
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: alive.path))
        #expect(layout.entryKeys().isEmpty)
    }
}
