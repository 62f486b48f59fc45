import Foundation
import PatchworkCore
import PatchworkFormats

/// One transformer block's weights, f32, row-major `[out, in]` like PyTorch's `nn.Linear`.
public struct LayerWeights: Sendable {
    /// [hidden]
    public var attentionNorm: [Float]
    /// q, k and v projections stacked, so one product computes all three:
    /// [heads · headDim + 2 · kvHeads · headDim, hidden].
    public var wqkv: [Float]
    /// [hidden, heads · headDim]
    public var wo: [Float]
    /// The q, k and v biases stacked — qwen2 only.
    public var bqkv: [Float]?
    /// [headDim] — qwen3 only.
    public var queryNorm: [Float]?, keyNorm: [Float]?
    /// [hidden]
    public var ffnNorm: [Float]
    /// Gate and up projections stacked: [2 · intermediate, hidden].
    public var wGateUp: [Float]
    /// [hidden, intermediate]
    public var wDown: [Float]
}

/// A model's weights, dequantized to f32 at load (4 bytes per parameter: SmolLM2-135M takes
/// about 540 MB, whatever its file's quantization).
public struct ModelWeights: Sendable {
    /// [vocabulary, hidden]
    public var embedding: [Float]
    public var layers: [LayerWeights]
    /// [hidden]
    public var finalNorm: [Float]
    /// [vocabulary, hidden]; nil when tied to ``embedding``.
    public var output: [Float]?

    /// Bytes the weights occupy.
    public var bytes: Int {
        let layerFloats = layers.reduce(0) { sum, l in
            sum + l.attentionNorm.count + l.wqkv.count + l.wo.count + l.ffnNorm.count + l.wGateUp.count + l.wDown.count
                + (l.bqkv?.count ?? 0) + (l.queryNorm?.count ?? 0) + (l.keyNorm?.count ?? 0)
        }
        return 4 * (embedding.count + layerFloats + finalNorm.count + (output?.count ?? 0))
    }

    static func load(config: ModelConfig, from source: some TensorSource) throws(ModelFileError) -> ModelWeights {
        let d = config.dimensions
        let (hidden, inter, qDim, kvDim) = (d.hidden, d.intermediate, config.qDim, config.kvDim)
        var layers: [LayerWeights] = []
        for i in 0..<d.layers {
            let p = "model.layers.\(i)."
            func t(_ name: String, _ count: Int) throws(ModelFileError) -> [Float] { try source.floats(p + name, count: count) }
            layers.append(LayerWeights(
                attentionNorm: try t("input_layernorm.weight", hidden),
                wqkv: try t("self_attn.q_proj.weight", qDim * hidden) + t("self_attn.k_proj.weight", kvDim * hidden)
                    + t("self_attn.v_proj.weight", kvDim * hidden),
                wo: try t("self_attn.o_proj.weight", hidden * qDim),
                bqkv: config.attentionBias
                    ? try t("self_attn.q_proj.bias", qDim) + t("self_attn.k_proj.bias", kvDim) + t("self_attn.v_proj.bias", kvDim) : nil,
                queryNorm: config.queryKeyNorm ? try t("self_attn.q_norm.weight", d.headDim) : nil,
                keyNorm: config.queryKeyNorm ? try t("self_attn.k_norm.weight", d.headDim) : nil,
                ffnNorm: try t("post_attention_layernorm.weight", hidden),
                wGateUp: try t("mlp.gate_proj.weight", inter * hidden) + t("mlp.up_proj.weight", inter * hidden),
                wDown: try t("mlp.down_proj.weight", hidden * inter)
            ))
        }
        return ModelWeights(
            embedding: try source.floats("model.embed_tokens.weight", count: d.vocabulary * hidden),
            layers: layers,
            finalNorm: try source.floats("model.norm.weight", count: hidden),
            output: config.tiedEmbeddings ? nil : try source.floats("lm_head.weight", count: d.vocabulary * hidden)
        )
    }
}
