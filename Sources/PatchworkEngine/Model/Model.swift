import Foundation
import PatchworkCore
import PatchworkFormats
import PatchworkTokenizer

/// A loaded model: configuration, weights, tokenizer and chat template, ready to run.
public struct Model: Sendable {
    public let config: ModelConfig
    public private(set) var weights: ModelWeights
    public let tokenizer: Tokenizer
    public let chatTemplate: String?
    public let description: ModelDescription

    /// The KV cache `--kv-cache-dtype auto` picks: f16 (as llama.cpp) when the weights hold
    /// quantized blocks, whose own rounding is far coarser; f32 for f32/f16/bf16 weights, whose
    /// answers are checked against transformers to 1e-3.
    public var defaultKVCacheType: KVCacheType {
        let quantized = Set(weights.residentBytes.keys).subtracting(["F32", "F16", "BF16"])
        return quantized.isEmpty ? .f32 : .f16
    }

    /// The same model with every weight matrix decoded to f32 (`--dequantize`).
    public func dequantized() -> Model {
        var copy = self
        copy.weights = weights.dequantized()
        return copy
    }

    /// Loads a GGUF file or a Hugging Face directory.
    /// - Parameter quantize: Q8_0 or Q4_0 to quantize f32/f16/bf16 weight matrices at load
    ///   (`--quantize`); quantized tensors of a GGUF file are kept as they are.
    public init(path: String, quantize: GGMLType? = nil) throws(ModelFileError) {
        if let quantize, !GGMLQuantizer.targets.contains(quantize) {
            throw ModelFileError("cannot quantize to \(quantize.name) (supported: \(GGMLQuantizer.targets.map(\.name).joined(separator: ", ")))")
        }
        var (description, gguf) = try ModelDescription.read(path: path)
        self.description = description
        chatTemplate = description.chatTemplate
        let d = description.dimensions
        if gguf == nil {
            let source = try SafetensorsTensorSource(directory: path)
            config = try Self.config(description: description, huggingFaceDirectory: path, source: source)
            weights = try ModelWeights.load(config: config, from: source, quantize: quantize)
            tokenizer = try Tokenizer(huggingFaceDirectory: path)
        } else {
            let source = try GGUFTensorSource(path: path, file: gguf!, heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim)
            let arch = description.architecture
            let m = gguf!.metadata.filter { $0.key.hasPrefix("\(arch).") }
            tokenizer = try Tokenizer(gguf: gguf!)
            // The metadata (a vocabulary of up to 262 144 tokens) is freed before the weights load.
            gguf = nil
            var config = ModelConfig(
                architecture: try Self.architecture(arch), dimensions: d, contextLength: description.contextLength,
                ropeTheta: Float(m["\(arch).rope.freq_base"]?.doubleValue ?? 10000),
                rmsNormEpsilon: Float(m["\(arch).attention.layer_norm_rms_epsilon"]?.doubleValue ?? 1e-6),
                tiedEmbeddings: !source.has("lm_head.weight"),
                attentionBias: source.has("model.layers.0.self_attn.q_proj.bias"),
                queryKeyNorm: source.has("model.layers.0.self_attn.q_norm.weight")
            )
            if config.architecture == .gemma3 {
                // llama.cpp's converter folds Gemma's `1 + w` into the stored norm weights.
                config.activation = .geluTanh
                config.embeddingScale = Float(d.hidden).squareRoot()
                config.postNorms = true
                if let window = m["gemma3.attention.sliding_window"]?.intValue, window > 0 {
                    config.layerAttention = ModelConfig.gemma3Layers(count: d.layers, window: window, globalTheta: config.ropeTheta)
                }
            }
            self.config = config
            weights = try ModelWeights.load(config: config, from: source, quantize: quantize)
        }
    }

    static func architecture(_ name: String) throws(ModelFileError) -> ModelConfig.Architecture {
        guard let arch = ModelConfig.Architecture(rawValue: name) else {
            throw ModelFileError("model architecture '\(name)' is not supported (supported: \(ModelDescription.supportedArchitectures.joined(separator: ", ")))")
        }
        return arch
    }

    /// Reads what `config.json` adds to the description: RoPE base, norm epsilon, tying.
    static func config(description: ModelDescription, huggingFaceDirectory path: String, source: SafetensorsTensorSource) throws(ModelFileError) -> ModelConfig {
        struct Config: Decodable {
            struct RopeParameters: Decodable { var rope_theta: Double? }
            var rope_theta: Double?
            var rope_parameters: RopeParameters?
            var rms_norm_eps: Double?
            var tie_word_embeddings: Bool?
            var attention_bias: Bool?
        }
        let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("config.json")) ?? Data()
        let config: Config
        do { config = try JSONDecoder().decode(Config.self, from: data) } catch { throw ModelFileError("config.json: \(error)") }
        let arch = try architecture(description.architecture)
        // Hugging Face's gemma3 stores norms as `w` for `1 + w` and other conventions the GGUF
        // path has folded; only GGUF files are checked against a reference here.
        guard arch != .gemma3 else { throw ModelFileError("gemma3 models run from GGUF files; convert \(path) with llama.cpp's convert_hf_to_gguf.py") }
        return ModelConfig(
            architecture: arch, dimensions: description.dimensions, contextLength: description.contextLength,
            // transformers 5 writes rope_parameters.rope_theta; earlier versions a top-level rope_theta.
            ropeTheta: Float(config.rope_parameters?.rope_theta ?? config.rope_theta ?? 10000),
            rmsNormEpsilon: Float(config.rms_norm_eps ?? 1e-6),
            tiedEmbeddings: config.tie_word_embeddings ?? !source.has("lm_head.weight"),
            attentionBias: config.attention_bias ?? (arch == .qwen2),
            queryKeyNorm: arch == .qwen3
        )
    }
}
