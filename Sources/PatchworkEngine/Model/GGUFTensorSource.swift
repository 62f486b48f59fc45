import Foundation
import PatchworkFormats

/// Reads tensors from a GGUF file, dequantizing to f32.
///
/// llama.cpp's converter permutes the rows of `q_proj` and `k_proj` of llama models so that its
/// RoPE can rotate adjacent pairs; this source undoes that permutation, so the engine runs one
/// rotate-half RoPE for every model and LoRA deltas apply in Hugging Face's row order.
struct GGUFTensorSource: TensorSource {
    let file: GGUFFile
    let data: Data
    let architecture: String
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    private let byName: [String: GGUFFile.TensorInfo]

    init(path: String, file: GGUFFile, heads: Int, kvHeads: Int, headDim: Int) throws(ModelFileError) {
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw ModelFileError("cannot map \(path): \(error.localizedDescription)")
        }
        self.file = file
        architecture = file.metadata["general.architecture"]?.stringValue ?? ""
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// llama.cpp's name for a Hugging Face tensor name.
    static func ggufName(_ name: String) -> String {
        let fixed = [
            "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight",
        ]
        if let direct = fixed[name] { return direct }
        guard name.hasPrefix("model.layers.") else { return name }
        let parts = name.dropFirst("model.layers.".count).split(separator: ".", maxSplits: 1)
        guard parts.count == 2 else { return name }
        let suffixes = [
            "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
            "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
            "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
            "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
            "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
        ]
        return suffixes[String(parts[1])].map { "blk.\(parts[0]).\($0)" } ?? name
    }

    func has(_ name: String) -> Bool { byName[Self.ggufName(name)] != nil }

    func floats(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
        let ggufName = Self.ggufName(name)
        guard let info = byName[ggufName] else { throw ModelFileError("tensor \(ggufName) (\(name)) is missing") }
        let elements = info.dimensions.reduce(1, *)
        guard elements == count else { throw ModelFileError("tensor \(ggufName) has \(elements) elements, expected \(count)") }
        guard let type = GGMLType(rawValue: info.typeID) else {
            throw ModelFileError("tensor \(ggufName) has ggml type \(info.typeID); supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1")
        }
        guard elements % type.blockSize == 0 else { throw ModelFileError("tensor \(ggufName) is not a whole number of blocks") }
        let start = file.dataOffset + info.offset, length = type.bytes(count: elements)
        guard start >= 0, start + length <= data.count else { throw ModelFileError("tensor \(ggufName) lies outside the file") }
        var values = [Float](repeating: 0, count: elements)
        data.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in type.dequantize(raw.baseAddress! + start, count: elements, into: out.baseAddress!) }
        }
        if architecture == "llama" {
            if name.hasSuffix("q_proj.weight") { values = Self.unpermute(values, heads: heads, headDim: headDim) }
            if name.hasSuffix("k_proj.weight") { values = Self.unpermute(values, heads: kvHeads, headDim: headDim) }
        }
        return values
    }

    /// Inverts llama.cpp's `permute`: within each head, row `2i + p` goes back to `p·(d/2) + i`.
    /// - Parameter weights: `[heads · headDim, columns]`, row-major.
    static func unpermute(_ weights: [Float], heads: Int, headDim: Int) -> [Float] {
        let rows = heads * headDim, half = headDim / 2
        guard rows > 0, weights.count % rows == 0 else { return weights }
        let columns = weights.count / rows
        var out = [Float](repeating: 0, count: weights.count)
        weights.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for i in 0..<half {
                        for p in 0..<2 {
                            let from = (h * headDim + 2 * i + p) * columns
                            let to = (h * headDim + p * half + i) * columns
                            (dst.baseAddress! + to).update(from: src.baseAddress! + from, count: columns)
                        }
                    }
                }
            }
        }
        return out
    }
}
