import Foundation
import PatchworkCore
import PatchworkFormats

/// One transformer block's weights, matrices row-major `[out, in]` like PyTorch's `nn.Linear`,
/// in their file's encoding (``WeightMatrix``); norms and biases f32.
public struct LayerWeights: Sendable {
    /// [hidden]
    public var attentionNorm: [Float]
    /// q, k and v projections stacked, so one product computes all three:
    /// [heads · headDim + 2 · kvHeads · headDim, hidden].
    public var wqkv: WeightMatrix
    /// [hidden, heads · headDim]
    public var wo: WeightMatrix
    /// The q, k and v biases stacked — qwen2 only.
    public var bqkv: [Float]?
    /// [headDim] — qwen3 only.
    public var queryNorm: [Float]?, keyNorm: [Float]?
    /// [hidden] — gemma3 only: the attention's output is normalised before the residual add.
    public var postAttentionNorm: [Float]?
    /// [hidden]
    public var ffnNorm: [Float]
    /// [hidden] — gemma3 only: the MLP's output is normalised before the residual add.
    public var postFFNNorm: [Float]?
    /// Gate and up projections stacked: [2 · intermediate, hidden].
    public var wGateUp: WeightMatrix
    /// [hidden, intermediate]
    public var wDown: WeightMatrix
}

/// A model's weights as the file encodes them: quantized GGUF tensors stay quantized (repacked
/// for the kernels, about the file's size), f16/bf16 stay 2-byte, f32 stays f32; `quantize`
/// turns f32/f16/bf16 matrices into Q8_0 or Q4_0 at load.
public struct ModelWeights: Sendable {
    /// [vocabulary, hidden]; rows are dequantized one at a time for lookups.
    public var embedding: WeightMatrix
    public var layers: [LayerWeights]
    /// [hidden]
    public var finalNorm: [Float]
    /// [vocabulary, hidden]; nil when tied to ``embedding``.
    public var output: WeightMatrix?

    /// Resident bytes of the weights by encoding ("Q4_1", "Q8_0", "F32" for norms too).
    public var residentBytes: [String: Int] {
        var bytes: [String: Int] = [:]
        func add(_ m: WeightMatrix) { for (k, v) in m.residentBytes { bytes[k, default: 0] += v } }
        func add(_ v: [Float]?) { if let v { bytes["F32", default: 0] += 4 * v.count } }
        add(embedding)
        if let output { add(output) }
        add(finalNorm)
        for l in layers {
            for m in [l.wqkv, l.wo, l.wGateUp, l.wDown] { add(m) }
            for v in [l.attentionNorm, l.ffnNorm, l.bqkv, l.queryNorm, l.keyNorm, l.postAttentionNorm, l.postFFNNorm] { add(v) }
        }
        return bytes
    }

    /// Bytes the weights occupy.
    public var bytes: Int { residentBytes.values.reduce(0, +) }

    /// The same weights decoded to f32: the forward pass of the file's exact values, for checks
    /// against f32 references (transformers loading a GGUF dequantized).
    public func dequantized() -> ModelWeights {
        var copy = self
        copy.embedding = embedding.dequantized()
        copy.output = output?.dequantized()
        for i in copy.layers.indices {
            copy.layers[i].wqkv = layers[i].wqkv.dequantized()
            copy.layers[i].wo = layers[i].wo.dequantized()
            copy.layers[i].wGateUp = layers[i].wGateUp.dequantized()
            copy.layers[i].wDown = layers[i].wDown.dequantized()
        }
        return copy
    }

    static func load(config: ModelConfig, from source: some TensorSource, quantize: GGMLType? = nil) throws(ModelFileError) -> ModelWeights {
        let d = config.dimensions
        let (hidden, inter, qDim, kvDim) = (d.hidden, d.intermediate, config.qDim, config.kvDim)
        let staging = LoadStaging()
        func matrix(_ parts: [(String, Int)], columns: Int) throws(ModelFileError) -> WeightMatrix {
            var tensors: [EncodedTensor] = []
            for (name, rows) in parts { tensors.append(try source.tensor(name, rows: rows, columns: columns)) }
            return try WeightMatrix(stacking: tensors, quantize: quantize, staging: staging)
        }
        // Hugging Face's names: llama's norm after attention is the MLP's input norm; gemma3
        // has a norm on each side of both.
        let gemma = config.architecture == .gemma3
        let ffnNormName = gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"
        var layers: [LayerWeights] = []
        for i in 0..<d.layers {
            let p = "model.layers.\(i)."
            func t(_ name: String, _ count: Int) throws(ModelFileError) -> [Float] { try source.floats(p + name, count: count) }
            layers.append(LayerWeights(
                attentionNorm: try t("input_layernorm.weight", hidden),
                wqkv: try matrix([(p + "self_attn.q_proj.weight", qDim), (p + "self_attn.k_proj.weight", kvDim), (p + "self_attn.v_proj.weight", kvDim)], columns: hidden),
                wo: try matrix([(p + "self_attn.o_proj.weight", hidden)], columns: qDim),
                bqkv: config.attentionBias
                    ? try t("self_attn.q_proj.bias", qDim) + t("self_attn.k_proj.bias", kvDim) + t("self_attn.v_proj.bias", kvDim) : nil,
                queryNorm: config.queryKeyNorm ? try t("self_attn.q_norm.weight", d.headDim) : nil,
                keyNorm: config.queryKeyNorm ? try t("self_attn.k_norm.weight", d.headDim) : nil,
                postAttentionNorm: config.postNorms ? try t("post_attention_layernorm.weight", hidden) : nil,
                ffnNorm: try t(ffnNormName, hidden),
                postFFNNorm: config.postNorms ? try t("post_feedforward_layernorm.weight", hidden) : nil,
                wGateUp: try matrix([(p + "mlp.gate_proj.weight", inter), (p + "mlp.up_proj.weight", inter)], columns: hidden),
                wDown: try matrix([(p + "mlp.down_proj.weight", hidden)], columns: inter)
            ))
        }
        return ModelWeights(
            embedding: try matrix([("model.embed_tokens.weight", d.vocabulary)], columns: hidden),
            layers: layers,
            finalNorm: try source.floats("model.norm.weight", count: hidden),
            output: config.tiedEmbeddings ? nil : try matrix([("lm_head.weight", d.vocabulary)], columns: hidden)
        )
    }
}
