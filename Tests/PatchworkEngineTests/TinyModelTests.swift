import Foundation
import PatchworkEngine
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// Tiny random llama, qwen2 and qwen3 models in Hugging Face format, with PEFT adapters, against
/// transformers + PEFT: |Δ logprob| ≤ 1e-3 and the same greedy tokens.
struct TinyModelTests {
    struct Prompt: Decodable {
        var text: String
        var ids: [Int]
        var steps: [String: [EngineReferences.Step]]

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            text = try c.decode(String.self, forKey: AnyKey("text"))
            ids = try c.decode([Int].self, forKey: AnyKey("ids"))
            steps = [:]
            for key in c.allKeys where key.stringValue != "text" && key.stringValue != "ids" {
                steps[key.stringValue] = try c.decode([EngineReferences.Step].self, forKey: key)
            }
        }
    }
    struct Entry: Decodable { var prompts: [Prompt] }
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let references: [String: Entry] = (try? EngineReferences.json("tiny", as: [String: Entry].self)) ?? [:]

    @Test(arguments: ["llama", "qwen2", "qwen3"], ComputeBackend.allCases)
    func matchesTransformersAndPEFT(architecture: String, backend: ComputeBackend) throws {
        let entry = try #require(Self.references[architecture])
        let directory = TestPaths.fixtures.appendingPathComponent("models/tiny-\(architecture)")
        let model = try Model(path: directory.path)
        #expect(model.config.architecture.rawValue == architecture)
        var checked = 0
        for prompt in entry.prompts {
            #expect(model.tokenizer.encode(prompt.text, addBOS: false) == prompt.ids, "token ids of \(prompt.text)")
            for (name, steps) in prompt.steps.sorted(by: { $0.key < $1.key }) {
                let adapter = name == "base" ? nil
                    : try EngineReferences.adapter(TestPaths.fixtures.appendingPathComponent("models/tiny-\(architecture)-adapters/\(name)"), model: model)
                let (worst, mismatches) = EngineReferences.compare(model: model, promptIDs: prompt.ids, steps: steps, adapter: adapter, backend: backend)
                #expect(worst <= 1e-3, "\(architecture) \(name) \(backend) '\(prompt.text)': |Δ logprob| \(worst)")
                #expect(mismatches.isEmpty, "\(architecture) \(name): greedy differs at steps \(mismatches)")
                checked += 1
            }
        }
        #expect(checked == 15)  // 3 prompts × (base + 4 adapters)
    }
}
