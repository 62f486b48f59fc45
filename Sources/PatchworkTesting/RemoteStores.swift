import Foundation

/// A real S3-compatible server (moto, signatures checked) on a free loopback port, with an IAM
/// key and the given objects uploaded (`Tests/Fixtures/servers/s3_server.py`).
public final class S3TestServer: Sendable {
    public let process: ManagedProcess
    public let endpoint: String
    public let accessKey: String
    public let secretKey: String

    /// - Parameters:
    ///   - uploads: `s3://bucket/prefix` → a local folder whose files become objects under it.
    ///   - fillers: `s3://bucket/prefix` → that many small extra objects under `prefix/extra/`.
    public init(uploads: [String: URL] = [:], fillers: [String: Int] = [:]) async throws {
        let port = try freePort()
        var arguments = [TestPaths.fixtures.appendingPathComponent("servers/s3_server.py").path, "--port", "\(port)"]
        for (target, folder) in uploads.sorted(by: { $0.key < $1.key }) { arguments += ["--upload", "\(target)=\(folder.path)"] }
        for (target, count) in fillers.sorted(by: { $0.key < $1.key }) { arguments += ["--filler", "\(target)=\(count)"] }
        let logs = try TestPaths.temporaryDirectory("s3")
        process = try ManagedProcess(name: "s3", executable: URL(fileURLWithPath: TestPaths.python), arguments: arguments, logDirectory: logs)
        guard await process.waitForLog("READY ", timeout: .seconds(90)),
              let line = process.log.split(separator: "\n").first(where: { $0.hasPrefix("READY ") }),
              let ready = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: String],
              let endpoint = ready["endpoint"], let accessKey = ready["access_key"], let secretKey = ready["secret_key"]
        else {
            process.stop()
            throw TestFailure("the S3 server did not start:\n\(process.log)")
        }
        self.endpoint = endpoint
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    /// The `AWS_*` variables a worker needs to reach this server.
    public func environment(secret: String? = nil) -> [String: String] {
        [
            "AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secret ?? secretKey, "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
        ]
    }

    public func stop() { process.stop() }
}

/// A server speaking the Hugging Face Hub's download protocol on a free loopback port
/// (`Tests/Fixtures/servers/hub_server.py`): the public Hub cannot be reached from here.
public final class HubTestServer: Sendable {
    public struct Repository: Sendable {
        public var name: String
        public var token: String?
        public var gated: Bool
        /// Serve files this slowly (to catch a download in the middle).
        public var bytesPerSecond: Int?
        /// Answer this many revision requests with 503 first.
        public var failFirst: Int
        /// Branch or tag → commit.
        public var revisions: [String: String]
        /// Commit → folder of its files.
        public var commits: [String: URL]

        public init(name: String, token: String? = nil, gated: Bool = false, bytesPerSecond: Int? = nil, failFirst: Int = 0, revisions: [String: String], commits: [String: URL]) {
            self.name = name
            self.token = token
            self.gated = gated
            self.bytesPerSecond = bytesPerSecond
            self.failFirst = failFirst
            self.revisions = revisions
            self.commits = commits
        }
    }

    public let process: ManagedProcess
    public let endpoint: String
    public let port: Int

    public init(repositories: [Repository]) async throws {
        port = try freePort()
        let logs = try TestPaths.temporaryDirectory("hub")
        var spec: [String: Any] = [:]
        for repo in repositories {
            spec[repo.name] = [
                "token": repo.token as Any, "gated": repo.gated, "bytes_per_second": repo.bytesPerSecond as Any, "fail_first": repo.failFirst,
                "revisions": repo.revisions, "commits": repo.commits.mapValues(\.path),
            ]
        }
        let specFile = logs.appendingPathComponent("repos.json")
        try JSONSerialization.data(withJSONObject: spec).write(to: specFile)
        process = try ManagedProcess(
            name: "hub", executable: URL(fileURLWithPath: TestPaths.python),
            arguments: [TestPaths.fixtures.appendingPathComponent("servers/hub_server.py").path, "--port", "\(port)", "--repos", specFile.path],
            logDirectory: logs
        )
        endpoint = "http://127.0.0.1:\(port)"
        guard await process.waitForLog("READY ", timeout: .seconds(30)) else {
            process.stop()
            throw TestFailure("the Hub server did not start:\n\(process.log)")
        }
    }

    /// Requests served so far: `revision` (API), `resolve` and `cdn` (file bytes).
    public func stats() async throws -> [String: Int] {
        try await HTTPClient.get(port: port, path: "/_stats").json() as? [String: Int] ?? [:]
    }

    /// Moves a branch to another commit, as a push would.
    public func move(_ repository: String, revision: String, to commit: String) async throws {
        let query = "repo=\(repository)&revision=\(revision)&commit=\(commit)".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
        _ = try await HTTPClient.post(port: port, path: "/_move?\(query)", json: [String: String]())
    }

    public func stop() { process.stop() }
}

/// A Kubernetes API server holding `PatchworkAdapter` objects, on a free loopback port
/// (`Tests/Fixtures/servers/kube_server.py`): no cluster runs here.
public final class KubernetesTestServer: Sendable {
    public let process: ManagedProcess
    public let endpoint: String
    public let port: Int
    public let token = "test-service-account-token"

    public init() async throws {
        port = try freePort()
        let logs = try TestPaths.temporaryDirectory("kube")
        process = try ManagedProcess(
            name: "kube", executable: URL(fileURLWithPath: TestPaths.python),
            arguments: [TestPaths.fixtures.appendingPathComponent("servers/kube_server.py").path, "--port", "\(port)", "--token", token],
            logDirectory: logs
        )
        endpoint = "http://127.0.0.1:\(port)"
        guard await process.waitForLog("READY ", timeout: .seconds(30)) else {
            process.stop()
            throw TestFailure("the Kubernetes API server did not start:\n\(process.log)")
        }
    }

    /// Creates or replaces an object, as `kubectl apply` would.
    public func apply(namespace: String, name: String, spec: [String: Any]) async throws {
        _ = try await HTTPClient.request("PUT", port: port, path: "/_objects/\(namespace)/\(name)", body: try JSONSerialization.data(withJSONObject: ["spec": spec]))
    }

    public func delete(namespace: String, name: String) async throws {
        _ = try await HTTPClient.delete(port: port, path: "/_objects/\(namespace)/\(name)")
    }

    /// The object's status, as the controller wrote it.
    public func status(namespace: String, name: String) async throws -> [String: Any] {
        try await HTTPClient.get(port: port, path: "/_objects/\(namespace)/\(name)").json()["status"] as? [String: Any] ?? [:]
    }

    public func stop() { process.stop() }
}
