import Foundation
import PatchworkCore
@testable import PatchworkEngine
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// The bundled SmolLM2-135M-Instruct GGUF against transformers loading the same file dequantized:
/// the forward pass over the file's exact values (the packed weights decoded to f32, which
/// `WeightMatrixTests` proves equal to the file's), without the int8 activations of the packed
/// kernels. Those are checked against llama.cpp on the same file (`LlamaCppReferenceTests`).
@Suite(.serialized) struct SmolLM2Tests {
    struct Reference: Decodable {
        struct TokenCase: Decodable { var text: String; var ids: [Int] }
        struct Chat: Decodable {
            var prompt: String
            var ids: [Int]
            var answer: String
            var base: [EngineReferences.Step]
            var adapter: [EngineReferences.Step]
        }
        var tokenizer: [TokenCase]
        var chat: Chat
    }

    static let reference = try? EngineReferences.json("smollm2", as: Reference.self)
    static let model = Result { try Model(path: TestPaths.model.path) }
    /// The model with its weights decoded to f32.
    static let exact = Result { () throws -> (Model, Transformer) in
        let model = try Self.model.get()
        return (model, Transformer(config: model.config, weights: model.weights.dequantized()))
    }

    @Test func tokenIDsEqualHuggingFace() throws {
        let reference = try #require(Self.reference)
        let model = try Self.model.get()
        #expect(reference.tokenizer.count >= 10)
        for case_ in reference.tokenizer {
            let ids = model.tokenizer.encode(case_.text)
            #expect(ids == case_.ids, "\(case_.text.debugDescription)")
            #expect(model.tokenizer.decode(ids) == case_.text)
        }
    }

    @Test func chatTemplateRendersLikeTransformers() throws {
        let reference = try #require(Self.reference)
        let model = try Self.model.get()
        let rendered = try ChatTemplate(try #require(model.chatTemplate)).render(
            messages: [ChatMessage(role: "user", content: "What is the capital of France?")], addGenerationPrompt: true
        )
        #expect(rendered == reference.chat.prompt)
        #expect(model.tokenizer.encode(rendered) == reference.chat.ids)
    }

    @Test func greedyAnswerIsParis() throws {
        let reference = try #require(Self.reference)
        #expect(reference.chat.answer == "The capital of France is Paris.")
        let (model, transformer) = try Self.exact.get()
        var parameters = SamplingParameters()
        parameters.temperature = 0
        parameters.maxTokens = 20
        let result = try Generator(transformer: transformer, tokenizer: model.tokenizer)
            .generate(promptIDs: reference.chat.ids, parameters: parameters)
        #expect(result.text == reference.chat.answer)
        #expect(result.finishReason == .stop)
    }

    @Test func firstStepsLogprobsMatchWithAndWithoutAPEFTAdapter() throws {
        let reference = try #require(Self.reference)
        let (model, transformer) = try Self.exact.get()
        let base = EngineReferences.compare(transformer: transformer, promptIDs: reference.chat.ids, steps: reference.chat.base, adapter: nil)
        #expect(base.worst <= 2e-3, "base |Δ logprob| \(base.worst)")
        #expect(base.mismatches.isEmpty)
        let adapter = try EngineReferences.adapter(TestPaths.adapter("smollm2-qkvo-peft"), model: model)
        let tuned = EngineReferences.compare(transformer: transformer, promptIDs: reference.chat.ids, steps: reference.chat.adapter, adapter: adapter)
        #expect(tuned.worst <= 2e-3, "adapter |Δ logprob| \(tuned.worst)")
        #expect(tuned.mismatches.isEmpty)
        // The adapter changes the distribution (its first token differs from the base model's).
        #expect(reference.chat.adapter[0].token != reference.chat.base[0].token)
    }
}
