import Foundation
import PatchworkHTTP
import PatchworkTesting
import Synchronization
import Testing

/// libcurl transfers against a real HTTP server on loopback (`Tests/Fixtures/servers/http_server.py`):
/// bodies to memory and to files, limits, error bodies, redirects, stalls, aborts.
@Suite(.serialized) struct HTTPTransferTests {
    let server: ManagedProcess
    let port: Int

    /// Each test gets its own server, stopped when the test ends (``ManagedProcess`` stops on deinit).
    init() throws {
        let logs = try TestPaths.temporaryDirectory("http-server")
        server = try ManagedProcess(
            name: "http", executable: URL(fileURLWithPath: TestPaths.python),
            arguments: ["-u", TestPaths.fixtures.appendingPathComponent("servers/http_server.py").path], logDirectory: logs
        )
        let deadline = Date().addingTimeInterval(30)
        var port: Int?
        while port == nil && Date() < deadline && server.isRunning {
            port = server.log.split(separator: "\n").first { $0.hasPrefix("READY ") }.flatMap { Int($0.dropFirst(6)) }
            if port == nil { usleep(20_000) }
        }
        guard let port else {
            server.stop()
            throw TestFailure("the HTTP test server did not start:\n\(server.log)")
        }
        self.port = port
    }

    func url(_ path: String, host: String = "127.0.0.1") -> String { "http://\(host):\(port)\(path)" }

    @Test func bodiesArriveInMemoryAndInFiles() throws {
        let memory = try HTTPTransfer.perform(HTTPRequest(url: url("/bytes/100000")), to: .memory, limits: TransferLimits())
        #expect(memory.status == 200 && memory.body.count == 100_000 && memory.body.prefix(12) == Data("012345678901".utf8))
        let file = try TestPaths.temporaryDirectory("download").appendingPathComponent("body")
        let written = try HTTPTransfer.perform(HTTPRequest(url: url("/bytes/250000")), to: .file(file), limits: TransferLimits())
        #expect(written.status == 200 && written.bytesWritten == 250_000 && written.body.isEmpty)
        #expect(try Data(contentsOf: file).count == 250_000)
        let echoed = try HTTPTransfer.perform(HTTPRequest(method: "POST", url: url("/echo"), body: Data("hello".utf8)), to: .memory, limits: TransferLimits())
        #expect(echoed.body == Data("hello".utf8))
    }

    /// A streamed body arrives piece by piece, as the server sends it, and the consumer can stop it.
    @Test func aStreamedBodyArrivesAsItIsSentAndCanBeStopped() throws {
        let received = Mutex<(pieces: Int, events: [String], decoder: ServerSentEventDecoder)>((0, [], ServerSentEventDecoder()))
        let response = try HTTPTransfer.perform(HTTPRequest(url: url("/events/5")), to: .stream { bytes in
            received.withLock { state in
                state.pieces += 1
                state.events += (try? state.decoder.feed(bytes)) ?? []
            }
            return true
        }, limits: TransferLimits())
        let (pieces, events, _) = received.withLock { $0 }
        #expect(response.status == 200 && response.body.isEmpty)
        #expect(events == (0..<5).map { "{\"n\": \($0)}" })
        #expect(pieces >= 5, "the events arrived in \(pieces) pieces")
        let seen = Mutex(0)
        #expect { try HTTPTransfer.perform(HTTPRequest(url: url("/events/100")), to: .stream { _ in seen.withLock { $0 += 1; return $0 < 3 } }, limits: TransferLimits()) } throws: {
            ($0 as? TransferError)?.kind == .aborted
        }
        #expect(seen.withLock { $0 } == 3)
        // An error's body is no stream: it stays in memory for the caller.
        let refused = try HTTPTransfer.perform(HTTPRequest(url: url("/status/400")), to: .stream { _ in Issue.record("an error body was streamed"); return true }, limits: TransferLimits())
        #expect(refused.status == 400 && String(decoding: refused.body, as: UTF8.self) == "explanation of 400")
    }

    @Test func aBodyBeyondTheLimitIsRefused() throws {
        #expect { try HTTPTransfer.perform(HTTPRequest(url: url("/bytes/5000")), to: .memory, limits: TransferLimits(maxBodyBytes: 4096)) } throws: {
            ($0 as? TransferError)?.kind == .tooLarge
        }
    }

    /// An error's body explains it: it is kept in memory, never written as the download.
    @Test func errorBodiesStayInMemory() throws {
        let file = try TestPaths.temporaryDirectory("download").appendingPathComponent("body")
        let response = try HTTPTransfer.perform(HTTPRequest(url: url("/status/404")), to: .file(file), limits: TransferLimits())
        #expect(response.status == 404 && String(decoding: response.body, as: UTF8.self) == "explanation of 404")
        #expect(response.bytesWritten == 0 && (try? Data(contentsOf: file))?.isEmpty ?? true)
    }

    /// Redirects are followed when asked; credentials go to the original host only.
    /// Downloads that refuse link-local addresses never open a connection there: not asked
    /// directly, not in IPv4-mapped form, not after a redirect; loopback still works.
    @Test func linkLocalAndMetadataAddressesAreRefused() throws {
        func refused(_ target: String) -> Bool {
            var request = HTTPRequest(url: target, followRedirects: true)
            request.refusesLinkLocal = true
            do {
                _ = try HTTPTransfer.perform(request, to: .memory, limits: TransferLimits(connectTimeout: 20))
                return false
            } catch {
                return error.kind == .refused && error.message.contains("link-local or cloud-metadata")
            }
        }
        let started = ContinuousClock.now
        #expect(refused("http://169.254.169.254/latest/meta-data/"))
        #expect(refused("http://[::ffff:169.254.169.254]/"))
        #expect(refused("http://[fe80::1]:80/"))
        #expect(refused("http://100.100.100.200/"))
        #expect(refused(url("/redirect?to=" + "http://169.254.169.254/latest/meta-data/".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)))
        // Refused before connecting: no connect timeout was waited for.
        #expect(ContinuousClock.now - started < .seconds(10))
        var loopback = HTTPRequest(url: url("/redirect?to=" + url("/bytes/10").addingPercentEncoding(withAllowedCharacters: .alphanumerics)!), followRedirects: true)
        loopback.refusesLinkLocal = true
        #expect(try HTTPTransfer.perform(loopback, to: .memory, limits: TransferLimits()).body.count == 10)
    }

    @Test func redirectsKeepCredentialsToTheirHost() throws {
        let sameHost = url("/redirect?to=" + (url("/headers")).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        let otherHost = url("/redirect?to=" + (url("/headers", host: "localhost")).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        func headers(_ start: String) throws -> [String: String] {
            let response = try HTTPTransfer.perform(
                HTTPRequest(url: start, headers: [("Authorization", "Bearer secret")], followRedirects: true), to: .memory, limits: TransferLimits()
            )
            #expect(response.status == 200)
            return try JSONSerialization.jsonObject(with: response.body) as? [String: String] ?? [:]
        }
        #expect(try headers(sameHost)["authorization"] == "Bearer secret")
        #expect(try headers(otherHost)["authorization"] == nil)
        let notFollowed = try HTTPTransfer.perform(HTTPRequest(url: sameHost), to: .memory, limits: TransferLimits())
        #expect(notFollowed.status == 302 && notFollowed.headers["location"] != nil)
    }

    @Test func aStalledTransferTimesOutAndProgressCanAbort() throws {
        let started = Date()
        #expect { try HTTPTransfer.perform(HTTPRequest(url: url("/stall")), to: .memory, limits: TransferLimits(stallTimeout: 1)) } throws: {
            ($0 as? TransferError)?.kind == .timeout
        }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect { try HTTPTransfer.perform(HTTPRequest(url: url("/bytes/1000000")), to: .memory, limits: TransferLimits(), progress: { done, _ in done < 1000 }) } throws: {
            ($0 as? TransferError)?.kind == .aborted
        }
        #expect { try HTTPTransfer.perform(HTTPRequest(url: "http://127.0.0.1:1/"), to: .memory, limits: TransferLimits(connectTimeout: 2)) } throws: {
            ($0 as? TransferError)?.kind == .transport
        }
    }
}

/// Backoff and what is retried.
struct RetryPolicyTests {
    @Test func backoffDoublesUpToItsCap() {
        let policy = RetryPolicy(maxAttempts: 6, initialDelay: 0.25, maxDelay: 1.5)
        #expect((1...5).map { policy.delay(afterAttempt: $0, jitter: 0) } == [0.25, 0.5, 1.0, 1.5, 1.5])
        #expect(policy.delay(afterAttempt: 2, jitter: 0.25) == 0.625)
        #expect(RetryPolicy.isRetriable(status: 500) && RetryPolicy.isRetriable(status: 503) && RetryPolicy.isRetriable(status: 429))
        #expect(!RetryPolicy.isRetriable(status: 403) && !RetryPolicy.isRetriable(status: 404) && !RetryPolicy.isRetriable(status: 400))
    }

    @Test func retriesServerErrorsButNotClientErrors() throws {
        let policy = RetryPolicy(maxAttempts: 4, initialDelay: 0.001, maxDelay: 0.002)
        var calls = 0
        let served = try policy.run(deadline: .now + .seconds(5)) { _ throws(TransferError) in
            calls += 1
            if calls < 3 { throw TransferError(kind: .transport, message: "connection refused") }
            return HTTPResponse(status: calls == 3 ? 503 : 200, headers: [:], body: Data(), bytesWritten: 0)
        }
        #expect(served.status == 200 && calls == 4)
        calls = 0
        let refused = try policy.run(deadline: .now + .seconds(5)) { _ throws(TransferError) in
            calls += 1
            return HTTPResponse(status: 403, headers: [:], body: Data(), bytesWritten: 0)
        }
        #expect(refused.status == 403 && calls == 1)
    }

}
