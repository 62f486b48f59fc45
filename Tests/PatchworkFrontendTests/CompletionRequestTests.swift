import Foundation
import HTTPTypes
import PatchworkCore
import PatchworkTokenizer
@testable import PatchworkFrontend
import Testing

/// Request bodies as OpenAI's API takes them: every refusal is a 400 naming the parameter at
/// fault (the names and rules are OpenAI's API reference's), every accepted shape becomes the
/// same request.
struct CompletionRequestTests {
    struct Refusal: Sendable, CustomTestStringConvertible {
        var body: String
        var chat = true
        var param: String?
        var says: String
        var testDescription: String { body }
    }

    static let refusals: [Refusal] = [
        Refusal(body: #"[]"#, param: nil, says: "Expected a JSON object"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}]"#, param: nil, says: "not valid JSON"),
        Refusal(body: #"{}"#, param: "model", says: "you must provide a model"),
        Refusal(body: #"{"model": 3}"#, param: "model", says: "'model' must be a string"),
        Refusal(body: #"{"model": "m"}"#, param: "messages", says: "non-empty array"),
        Refusal(body: #"{"model": "m", "messages": {}}"#, param: "messages", says: "must be an array"),
        Refusal(body: #"{"model": "m", "messages": [{"content": "x"}]}"#, param: "messages[0].role", says: "is required"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "robot", "content": "x"}]}"#, param: "messages[0].role", says: "system, user, assistant or tool"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": 5}]}"#, param: "messages[0].content", says: "a string or an array of content parts"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#, param: "messages[0].content", says: "only text content parts"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}"#, param: "temperature", says: "must be a number"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 2.5}"#, param: "temperature", says: "[0, 2]"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 0}"#, param: "top_p", says: "(0, 1]"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}"#, param: "max_tokens", says: "'max_tokens' must be an integer"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}"#, param: "max_tokens", says: "at least 1"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}"#, param: "n", says: "between 1 and 16"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "presence_penalty": -2.5}"#, param: "presence_penalty", says: "[-2, 2]"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}"#, param: "stream", says: "must be a boolean"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}"#, param: "stream_options", says: "only allowed when 'stream' is true"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": 5}"#, param: "stop", says: "a string or an array of strings"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": 3}"#, param: "logprobs", says: "must be a boolean"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}"#, param: "top_logprobs", says: "needs 'logprobs'"),
        Refusal(body: #"{"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21}"#, param: "top_logprobs", says: "between 0 and 20"),
        Refusal(body: #"{"model": "m"}"#, chat: false, param: "prompt", says: "provide a prompt"),
        Refusal(body: #"{"model": "m", "prompt": {}}"#, chat: false, param: "prompt", says: "array of token-id arrays"),
        Refusal(body: #"{"model": "m", "prompt": []}"#, chat: false, param: "prompt", says: "must not be empty"),
        Refusal(body: #"{"model": "m", "prompt": [[1, 2], []]}"#, chat: false, param: "prompt", says: "prompt[1] is empty"),
        Refusal(body: #"{"model": "m", "prompt": "x", "logprobs": true}"#, chat: false, param: "logprobs", says: "must be an integer"),
        Refusal(body: #"{"model": "m", "prompt": "x", "echo": true, "logprobs": 1}"#, chat: false, param: "echo", says: "not supported"),
        Refusal(body: #"{"model": "m", "prompt": ["a", "b", "c", "d", "e", "f", "g", "h", "i"], "n": 16}"#, chat: false, param: "prompt", says: "at most 128"),
    ]

    @Test(arguments: refusals)
    func refusalsNameTheParameter(_ refusal: Refusal) {
        do {
            _ = try CompletionRequest.parse(Data(refusal.body.utf8), chat: refusal.chat)
            Issue.record("accepted \(refusal.body)")
        } catch {
            #expect(error.status.code == 400)
            #expect(error.error.param == refusal.param)
            #expect(error.error.message.contains(refusal.says), "\(error.error.message)")
            #expect(error.error.type == "invalid_request_error")
        }
    }

    @Test func chatBodiesBecomeTheirRequest() throws {
        let request = try CompletionRequest.parse(Data(#"""
            {"model": "m", "messages": [{"role": "developer", "content": "Be brief."},
                                        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}]}],
             "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0, "seed": -1, "stop": "\n", "n": 2,
             "logprobs": true, "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true}, "user": "u", "metadata": {"x": 1}}
            """#.utf8), chat: true)
        guard case .chat(let messages) = request.input else { Issue.record("not chat"); return }
        #expect(messages == [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi there")])
        #expect(request.sampling.maxTokens == 7 && request.sampling.temperature == 0 && request.sampling.seed == UInt64.max)
        #expect(request.sampling.stop == ["\n"] && request.sampling.topLogprobs == 3 && request.n == 2)
        #expect(request.stream && request.includeUsage && request.logprobs && request.user == "u" && request.choiceCount == 2)
    }

    @Test(arguments: [
        (#""The capital""#, 1), (#"["a", "b", "c"]"#, 3), (#"[1, 2, 3]"#, 1), (#"[[1, 2], [3]]"#, 2),
    ])
    func everyPromptShapeGivesOnePromptPerEntry(_ prompt: String, _ count: Int) throws {
        let request = try CompletionRequest.parse(Data(#"{"model": "m", "prompt": \#(prompt), "n": 3, "echo": true, "logprobs": 2}"#.replacingOccurrences(of: #", "echo": true"#, with: "").utf8), chat: false)
        #expect(request.promptCount == count && request.choiceCount == 3 * count)
        #expect(request.logprobs && request.topLogprobs == 2 && !request.echo)
    }
}
