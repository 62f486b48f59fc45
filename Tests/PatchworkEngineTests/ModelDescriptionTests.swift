import Foundation
import PatchworkCore
import PatchworkEngine
import PatchworkFormats
import PatchworkTesting
import Testing

struct ModelDescriptionTests {
    /// The bundled SmolLM2-135M-Instruct GGUF, as its model card documents it.
    @Test func readsTheBundledSmolLM2() throws {
        let description = try ModelDescription(path: TestPaths.model.path)
        #expect(description.architecture == "llama")
        #expect(description.contextLength == 8192)
        let d = description.dimensions
        #expect(d.layers == 30 && d.hidden == 576 && d.intermediate == 1536)
        #expect(d.heads == 9 && d.kvHeads == 3 && d.headDim == 64 && d.vocabulary == 49152)
        #expect(description.chatTemplate?.contains("<|im_start|>") == true)
    }

    @Test func readsTheGGUFDirectory() throws {
        let file = try GGUFFile(path: TestPaths.model.path)
        #expect(file.version == 3)
        #expect(file.metadata["tokenizer.ggml.model"]?.stringValue == "gpt2")
        #expect(file.metadata["tokenizer.ggml.bos_token_id"]?.intValue == 1)
        #expect(file.metadata["tokenizer.ggml.merges"]?.arrayValue?.count == 48900)
        // 30 blocks × 9 tensors, plus token_embd and output_norm; tied embeddings, no output.weight.
        #expect(file.tensors.count == 272)
        #expect(file.tensors.first { $0.name == "token_embd.weight" }?.dimensions == [576, 49152])
        #expect(!file.tensors.contains { $0.name == "output.weight" })
        #expect(file.dataOffset % 32 == 0)
    }

    @Test func refusesTruncatedOrForeignFiles() throws {
        let directory = try TestPaths.temporaryDirectory("gguf")
        let truncated = directory.appendingPathComponent("cut.gguf")
        let head = try FileHandle(forReadingFrom: TestPaths.model).read(upToCount: 4096) ?? Data()
        try head.write(to: truncated)
        #expect { try GGUFFile(path: truncated.path) } throws: { "\($0)".contains("exceeds the file") || "\($0)".contains("ends early") }
        let foreign = directory.appendingPathComponent("x.gguf")
        try Data("not a model at all".utf8).write(to: foreign)
        #expect { try ModelDescription(path: foreign.path) } throws: { "\($0)".contains("bad magic") }
        #expect { try ModelDescription(path: "/no/such/model.gguf") } throws: { "\($0)".contains("does not exist") }
    }

    @Test func refusesUnknownArchitecturesByName() throws {
        let directory = try TestPaths.temporaryDirectory("hf")
        let config = #"{"model_type":"mamba","hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10}"#
        try Data(config.utf8).write(to: directory.appendingPathComponent("config.json"))
        #expect { try ModelDescription(path: directory.path) } throws: { "\($0)".contains("'mamba' is not supported") }
    }

    @Test func readsAHuggingFaceDirectory() throws {
        let directory = try TestPaths.temporaryDirectory("hf")
        let config = #"{"model_type":"qwen3","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"vocab_size":300,"max_position_embeddings":1024}"#
        try Data(config.utf8).write(to: directory.appendingPathComponent("config.json"))
        try Data(#"{"chat_template":"{{ messages }}"}"#.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let description = try ModelDescription(path: directory.path)
        #expect(description.architecture == "qwen3" && description.contextLength == 1024)
        #expect(description.dimensions.headDim == 32 && description.dimensions.kvHeads == 2)
        #expect(description.chatTemplate == "{{ messages }}")
    }
}
