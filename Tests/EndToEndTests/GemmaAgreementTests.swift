import Foundation
import PatchworkTesting
import PatchworkTokenizer
import Testing

extension EndToEnd {
    /// Gemma-3-270M Q4_K_M (`make model-gemma`), a second model family, against llama.cpp on the
    /// same file (`Tests/Fixtures/make_llama_cpp_references.py --gemma`): its SentencePiece
    /// tokenizer gives llama.cpp's ids, and the release engine (sliding-window and global
    /// layers, four norms per layer, GeGLU, Q5_0/Q4_K/Q6_K/Q8_0 kept encoded) its greedy tokens,
    /// also on a prompt past the 512-position window.
    ///
    /// As for SmolLM2 (``LlamaCppAgreement``): both engines multiply by int8 activations, and
    /// llama.cpp itself is about 0.04 per token from the file's exact function (Patchwork's
    /// `--dequantize` against it, measured), so a near-tie may go either way; the tokens agree
    /// until a near-tie, and the logprobs agree on average.
    @Suite(.enabled(if: TestPaths.llamaReferences.map { FileManager.default.fileExists(atPath: $0.appendingPathComponent("gemma3.json").path) } ?? false,
                    "make llama-references (with model-gemma), then set PATCHWORK_TEST_LLAMA_REFERENCES"))
    struct GemmaAgreement {
        struct Reference: Decodable {
            struct Text: Decodable { var text: String; var ids: [Int] }
            /// A rank-8 adapter on every projection: PEFT's files for Patchwork, a GGUF LoRA of
            /// the same numbers for llama.cpp.
            struct LoRA: Decodable { var adapter: String; var cases: [LlamaCppAgreement.Reference.Case] }
            var file: String
            var steps: Int
            var texts: [Text]
            var cases: [LlamaCppAgreement.Reference.Case]
            var lora: LoRA
        }

        static let reference = Result { () throws -> Reference in
            let url = try #require(TestPaths.llamaReferences).appendingPathComponent("gemma3.json")
            return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        }

        @Test func tokenIDsEqualLlamaCpps() throws {
            let reference = try Self.reference.get()
            #expect(reference.texts.count >= 20)
            let tokenizer = try Tokenizer(modelPath: reference.file)
            for text in reference.texts {
                #expect(tokenizer.encode(text.text) == text.ids, "\(text.text.debugDescription)")
                // Decoding gives the text back (BOS dropped; no normalisation on the way).
                #expect(tokenizer.decode(Array(text.ids.dropFirst())) == text.text, "\(text.text.debugDescription)")
            }
        }

        @Test func greedyTokensEqualLlamaCpps() async throws {
            let reference = try Self.reference.get()
            #expect(reference.cases.count == 5 && reference.steps == 32)
            #expect(reference.cases.contains { $0.prompt_ids.count > 512 }, "a prompt past the sliding window")
            let fileMB = Double(try FileManager.default.attributesOfItem(atPath: reference.file)[.size] as? Int ?? 0) / 1_048_576
            var matched: [Double] = [], firstDivergences: [Int] = []
            for c in reference.cases {
                let (generated, first) = try await LlamaCppAgreement.generate(file: reference.file, like: c, steps: reference.steps, label: "gemma3")
                firstDivergences.append(first)
                for i in 0..<first { matched.append(abs(generated.tokens[i].logprob - c.logprobs[i])) }
                for type in ["Q8_0", "Q5_0", "Q4_K", "Q6_K"] {
                    #expect(generated.weights_bytes[type, default: 0] > 0, "\(type) kept: \(generated.weights_bytes)")
                }
                let weightsMB = Double(generated.weights_bytes.values.reduce(0, +)) / 1_048_576
                #expect(weightsMB <= 1.05 * fileMB, "weights \(weightsMB) MB for a \(fileMB) MB file")
            }
            let mean = matched.reduce(0, +) / Double(max(matched.count, 1))
            print("gemma3: first divergence per prompt \(firstDivergences) of \(reference.steps), mean |Δ logprob| \(mean) over \(matched.count) steps")
            // Gemma's activations are large (norm weights up to 301): llama.cpp's own distance from
            // the exact function is 0.02–0.12 per prompt here, Patchwork's int8 path 0.02–0.12.
            #expect(mean <= 0.08, "mean |Δ logprob| \(mean)")
            #expect(Double(firstDivergences.reduce(0, +)) >= 0.25 * Double(reference.steps * reference.cases.count), "\(firstDivergences)")
        }

        /// A PEFT adapter on gemma3 loads and applies as llama.cpp applies the same weights
        /// (`y += (alpha/r)·B(A x)` on every projection, unmerged), and changes the answers.
        @Test func aLoRAAdapterAppliesAsInLlamaCpp() async throws {
            let reference = try Self.reference.get()
            var matched: [Double] = [], firstDivergences: [Int] = []
            for c in reference.lora.cases {
                let (generated, first) = try await LlamaCppAgreement.generate(
                    file: reference.file, like: c, steps: reference.steps, label: "gemma3 + LoRA",
                    arguments: ["--lora", "adapter=\(reference.lora.adapter)", "--adapter", "adapter"]
                )
                firstDivergences.append(first)
                for i in 0..<first { matched.append(abs(generated.tokens[i].logprob - c.logprobs[i])) }
                let base = try #require(reference.cases.first { $0.prompt_ids == c.prompt_ids })
                #expect(generated.tokens.map(\.id) != base.tokens, "the adapter changes the answer to '\(c.text.prefix(40))'")
            }
            let mean = matched.reduce(0, +) / Double(max(matched.count, 1))
            print("gemma3 + LoRA: first divergence per prompt \(firstDivergences) of \(reference.steps), mean |Δ logprob| \(mean) over \(matched.count) steps")
            #expect(mean <= 0.12, "mean |Δ logprob| \(mean)")
            #expect(firstDivergences.reduce(0, +) >= 8, "\(firstDivergences)")
        }

        /// Served through the cluster: the frontend tokenizes with the SentencePiece tokenizer the
        /// worker sends, and the completion is llama.cpp's greedy text; chat is refused, as the
        /// base model has no chat template.
        @Test func servedByTheClusterItAnswersAsLlamaCpp() async throws {
            let reference = try Self.reference.get()
            let tokenizer = try Tokenizer(modelPath: reference.file)
            let first = try #require(reference.cases.first { $0.text == "The capital of France is" })
            // The tokens both engines agree on (prefix before any near-tie).
            let expected = tokenizer.decode(Array(first.tokens.prefix(8)))
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                _ = try await cluster.startWorker(routers: [router], model: URL(fileURLWithPath: reference.file), servedModelName: "gemma-3-270m")
                let frontend = try await cluster.startFrontend(routers: [router])
                let response = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/completions", json: [
                    "model": "gemma-3-270m", "prompt": first.text, "max_tokens": 8, "temperature": 0,
                ])
                try #require(response.status == 200, "\(response.text)")
                let choice = try #require((try response.json()["choices"] as? [[String: Any]])?.first)
                #expect(choice["text"] as? String == expected)
                let chat = try await HTTPClient.post(port: frontend.httpPort, path: "/v1/chat/completions", json: [
                    "model": "gemma-3-270m", "messages": [["role": "user", "content": "Hi"]], "max_tokens": 4,
                ])
                #expect(chat.status == 400 && chat.text.contains("no chat template"), "\(chat.text)")
            }
        }
    }
}
