import Foundation
import PatchworkFormats

/// Reads tensors from a GGUF file in their encoding.
///
/// llama.cpp's converter permutes the rows of `q_proj` and `k_proj` of llama models so that its
/// RoPE can rotate adjacent pairs; this source undoes that permutation (whole rows, so it holds
/// for every encoding), so the engine runs one rotate-half RoPE for every model and LoRA
/// deltas apply in Hugging Face's row order.
struct GGUFTensorSource: TensorSource {
    /// Where the tensor data starts in the file. (The file's metadata is not kept: Gemma's
    /// vocabulary alone is 18 MB, resident next to the weights while they load.)
    let dataOffset: Int
    let reader: FileReader
    let architecture: String
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    private let byName: [String: GGUFFile.TensorInfo]

    init(path: String, file: GGUFFile, heads: Int, kvHeads: Int, headDim: Int) throws(ModelFileError) {
        reader = try FileReader(path: path)
        dataOffset = file.dataOffset
        architecture = file.metadata["general.architecture"]?.stringValue ?? ""
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// llama.cpp's name for a Hugging Face tensor name.
    static func ggufName(_ name: String, architecture: String) -> String {
        let fixed = [
            "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight",
        ]
        if let direct = fixed[name] { return direct }
        guard name.hasPrefix("model.layers.") else { return name }
        let parts = name.dropFirst("model.layers.".count).split(separator: ".", maxSplits: 1)
        guard parts.count == 2 else { return name }
        // gemma3's "post_attention_layernorm" is a norm of the attention's output; llama's is the
        // MLP's input norm.
        let gemma: [String: String] = architecture == "gemma3" ? [
            "post_attention_layernorm.weight": "post_attention_norm.weight", "pre_feedforward_layernorm.weight": "ffn_norm.weight",
            "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
        ] : [:]
        if let renamed = gemma[String(parts[1])] { return "blk.\(parts[0]).\(renamed)" }
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

    func has(_ name: String) -> Bool { byName[Self.ggufName(name, architecture: architecture)] != nil }

    func floats(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
        let info = try lookup(name, elements: count)
        let tensor = try encoded(name, info: info, rows: count / max(info.dimensions.first ?? 1, 1), columns: info.dimensions.first ?? count)
        return try tensor.floats()
    }

    func tensor(_ name: String, rows: Int, columns: Int) throws(ModelFileError) -> EncodedTensor {
        let info = try lookup(name, elements: rows * columns)
        guard info.dimensions.first == columns else {
            throw ModelFileError("tensor \(Self.ggufName(name, architecture: architecture)) has rows of \(info.dimensions.first ?? 0) values, expected \(columns)")
        }
        return try encoded(name, info: info, rows: rows, columns: columns)
    }

    private func lookup(_ name: String, elements: Int) throws(ModelFileError) -> GGUFFile.TensorInfo {
        let ggufName = Self.ggufName(name, architecture: architecture)
        guard let info = byName[ggufName] else { throw ModelFileError("tensor \(ggufName) (\(name)) is missing") }
        let count = info.dimensions.reduce(1, *)
        guard count == elements else { throw ModelFileError("tensor \(ggufName) has \(count) elements, expected \(elements)") }
        return info
    }

    private func encoded(_ name: String, info: GGUFFile.TensorInfo, rows: Int, columns: Int) throws(ModelFileError) -> EncodedTensor {
        let ggufName = info.name
        guard let type = GGMLType(rawValue: info.typeID) else {
            throw ModelFileError(
                "tensor \(ggufName) is \(GGMLType.name(typeID: info.typeID)), which the engine does not support "
                    + "(supported: \(GGMLType.allCases.map(\.name).joined(separator: ", ")))"
            )
        }
        guard columns % type.blockSize == 0 else {
            throw ModelFileError("tensor \(ggufName) (\(type.name)) has rows of \(columns) values, not whole blocks of \(type.blockSize)")
        }
        let start = dataOffset + info.offset, rowBytes = type.bytes(count: columns)
        guard start >= 0, start + rows * rowBytes <= reader.size else { throw ModelFileError("tensor \(ggufName) lies outside the file") }
        let reader = reader
        var permutedHeads = 0
        if architecture == "llama" {
            if name.hasSuffix("q_proj.weight") { permutedHeads = heads }
            if name.hasSuffix("k_proj.weight") { permutedHeads = kvHeads }
        }
        let (headDim, half) = (headDim, headDim / 2)
        guard permutedHeads == 0 || permutedHeads * headDim == rows else {
            throw ModelFileError("tensor \(ggufName) has \(rows) rows, expected \(permutedHeads) heads of \(headDim)")
        }
        return EncodedTensor(name: ggufName, type: type, rows: rows, columns: columns) { (range, buffer) throws(ModelFileError) in
            guard permutedHeads > 0 else {
                try reader.read(offset: start + range.lowerBound * rowBytes, count: range.count * rowBytes, into: buffer)
                return
            }
            // Inverts llama.cpp's `permute`: within each head, file row 2i + p is row p·(d/2) + i.
            for (k, row) in range.enumerated() {
                let (h, t) = (row / headDim, row % headDim)
                let fileRow = h * headDim + 2 * (t % half) + t / half
                try reader.read(offset: start + fileRow * rowBytes, count: rowBytes, into: buffer + k * rowBytes)
            }
        }
    }
}
