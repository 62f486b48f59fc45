import Foundation
import HTTPTypes
import PatchworkCore
@testable import PatchworkFrontend
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// A completion from the worker's messages to the client's bytes, against a scripted worker:
/// the streamed events and the whole body in OpenAI's shape, retries and errors.
struct CompletionStateMachineTests {
    // Token ids: 0 "Hel", 1 "lo", 2 "Hi", 3 end of sequence.
    static let tokenizer = try! Tokenizer(data: TokenizerData(
        vocabulary: ["Hel", "lo", "Hi", "<eos>"], merges: [], addedTokens: [.init(text: "<eos>", id: 3, special: true)],
        preTokenizerPatterns: [], bosID: nil, eosID: 3, addsBOS: false
    ))
    static let header = CompletionResponses.Header(id: requestID("chatcmpl-1"), created: 1_700_000_000, model: "m")

    static func machine(_ body: String, chat: Bool = true, echoes: [String] = []) throws -> CompletionStateMachine {
        CompletionStateMachine(header: header, request: try CompletionRequest.parse(Data(body.utf8), chat: chat), echoes: echoes, tokenizer: tokenizer)
    }

    static func token(_ id: Int) -> InferenceChunk.Token {
        InferenceChunk.Token(id: id, text: tokenizer.vocabulary[id], logprob: -0.5, top: [])
    }

    /// `completion`: the choice's tokens in all, as the worker reports them with the finish.
    static func chunk(_ ids: [Int], finish: String? = nil, prompt: Int = 5, completion: Int = 1, trailing: String? = nil) -> ServingMessage {
        .chunk(InferenceChunk(
            requestID: requestID("r"), tokens: ids.map(token), finishReason: finish,
            usage: finish == nil ? nil : InferenceChunk.Usage(promptTokens: prompt, completionTokens: completion, cachedPromptTokens: 2),
            trailingText: trailing
        ))
    }

    /// The JSON of every `send` (and of a usage `finish`), and the kinds of the other actions.
    static func render(_ actions: [CompletionStateMachine.Action]) -> [String] {
        actions.map { action in
            func json(_ value: some Encodable) -> String { String(decoding: CompletionResponses.json(value), as: UTF8.self) }
            switch action {
            case .send(let body): return json(body)
            case .sendError(let error): return "error " + json(error)
            case .retry: return "retry"
            case .fail(let error): return "fail \(error.status.code) \(error.error.code ?? "")"
            case .finish(let body?): return "finish " + json(body)
            case .finish(nil): return "finish"
            }
        }
    }

    static func object(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.drop { $0 != "{" }.utf8)) as? [String: Any])
    }

    @Test func aWholeResponseGathersEveryChoiceAndCountsThePromptOnce() throws {
        var machine = try Self.machine(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}"#)
        #expect(machine.start().isEmpty)
        var actions: [String] = []
        actions += Self.render(machine.handle(Self.chunk([0]), choice: 0))
        actions += Self.render(machine.handle(Self.chunk([2], finish: "length"), choice: 1))
        actions += Self.render(machine.handle(Self.chunk([1], finish: "stop", completion: 2), choice: 0))
        #expect(actions.count == 1 && actions[0].hasPrefix("finish {"))
        let body = try Self.object(actions[0])
        #expect(body["object"] as? String == "chat.completion" && body["id"] as? String == "chatcmpl-1")
        let choices = try #require(body["choices"] as? [[String: Any]])
        #expect(choices.map { ($0["message"] as? [String: Any])?["content"] as? String } == ["Hello", "Hi"])
        #expect(choices.map { $0["finish_reason"] as? String } == ["stop", "length"])
        #expect(choices.map { $0["index"] as? Int } == [0, 1])
        let usage = try #require(body["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == 5 && usage["completion_tokens"] as? Int == 3 && usage["total_tokens"] as? Int == 8)
        #expect((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int == 2)
        #expect(machine.done)
    }

    @Test func aStreamStartsWithTheRoleSendsEachDeltaAndEndsWithUsage() throws {
        var machine = try Self.machine(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true, "stream_options": {"include_usage": true}}"#)
        let start = Self.render(machine.start())
        #expect(start.count == 1)
        let role = try Self.object(start[0])
        let roleDelta = (role["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
        #expect(roleDelta?["role"] as? String == "assistant" && roleDelta?["content"] as? String == "")
        #expect(role["usage"] is NSNull)
        let first = Self.render(machine.handle(Self.chunk([0]), choice: 0))
        let last = Self.render(machine.handle(Self.chunk([1], finish: "stop", completion: 2, trailing: "!"), choice: 0))
        #expect(first.count == 1 && last.count == 2)
        func delta(_ json: String) throws -> (String?, Any?) {
            let choice = try #require((try Self.object(json)["choices"] as? [[String: Any]])?.first)
            return ((choice["delta"] as? [String: Any])?["content"] as? String, choice["finish_reason"])
        }
        #expect(try delta(first[0]).0 == "Hel" && (try delta(first[0]).1) is NSNull)
        // The text held back for a possible stop string arrives with the finish.
        #expect(try delta(last[0]).0 == "lo!" && (try delta(last[0]).1) as? String == "stop")
        #expect(last[1].hasPrefix("finish "))
        let usage = try Self.object(last[1])
        #expect((usage["choices"] as? [Any])?.isEmpty == true && (usage["usage"] as? [String: Any])?["completion_tokens"] as? Int == 2)
    }

    @Test func aWorkerLostBeforeAnyTokenIsReplacedAfterwardsTheStreamEndsWithAnError() throws {
        let lost = ServingMessage.failure(ServingFailure(requestID: nil, code: .workerLost, message: "worker w left the cluster"))
        var streamed = try Self.machine(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true}"#)
        _ = streamed.start()
        #expect(Self.render(streamed.handle(lost, choice: 0)) == ["retry"])
        #expect(!streamed.done)
        _ = streamed.handle(Self.chunk([0]), choice: 0)
        let after = Self.render(streamed.handle(lost, choice: 0))
        #expect(after.count == 1 && after[0].hasPrefix("error ") && after[0].contains("no_worker_available"))
        #expect(streamed.done && streamed.handle(Self.chunk([1], finish: "stop"), choice: 0).isEmpty)

        // A whole response is always replaced: nothing reached the client; what came before is dropped.
        var whole = try Self.machine(#"{"model": "m", "messages": [{"role": "user", "content": "x"}]}"#)
        _ = whole.handle(Self.chunk([2]), choice: 0)
        #expect(Self.render(whole.handle(lost, choice: 0)) == ["retry"])
        let done = Self.render(whole.handle(Self.chunk([0, 1], finish: "stop"), choice: 0))
        let content = ((try Self.object(done[0])["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        #expect(content == "Hello")
        // And a stream that ends before every choice finished counts as a lost worker.
        var cut = try Self.machine(#"{"model": "m", "messages": [{"role": "user", "content": "x"}]}"#)
        #expect(Self.render(cut.ended()) == ["retry"])
        #expect(Self.render(cut.retryFailed(.unavailable("no other worker"))) == ["fail 503 no_worker_available"])
    }

    @Test func aWorkerFailureBecomesTheClientsError() throws {
        let unknown = ServingMessage.failure(ServingFailure(requestID: requestID("r"), code: .unknownAdapter, message: "not loaded"))
        var whole = try Self.machine(#"{"model": "sql", "messages": [{"role": "user", "content": "x"}]}"#)
        #expect(Self.render(whole.handle(unknown, choice: 0)) == ["fail 404 model_not_found"])
        var streamed = try Self.machine(#"{"model": "sql", "prompt": "x", "stream": true}"#, chat: false)
        let actions = Self.render(streamed.handle(unknown, choice: 0))
        #expect(actions.count == 1 && actions[0].contains("model_not_found"))
    }

    @Test func echoedPromptsAndSeveralPromptsStreamInChoiceOrder() throws {
        var machine = try Self.machine(#"{"model": "m", "prompt": ["A", "B"], "stream": true, "echo": true}"#, chat: false, echoes: ["A", "B"])
        let start = Self.render(machine.start())
        let texts = try start.map { ((try Self.object($0)["choices"] as? [[String: Any]])?.first?["text"] as? String) }
        #expect(texts == ["A", "B"])
        let indices = try start.map { ((try Self.object($0)["choices"] as? [[String: Any]])?.first?["index"] as? Int) }
        #expect(indices == [0, 1])
        _ = machine.handle(Self.chunk([2], finish: "stop", prompt: 1), choice: 1)
        let end = Self.render(machine.handle(Self.chunk([0], finish: "stop", prompt: 1), choice: 0))
        #expect(end.last == "finish")
        #expect(machine.choices.map(\.text) == ["AHel", "BHi"])
    }
}
