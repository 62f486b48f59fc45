import Foundation
import PatchworkTesting

/// Writes adapter directories for tests: a PEFT config and a safetensors file of zeros with the
/// given tensors, laid out as the format specifies (8-byte length, JSON header, data).
enum AdapterFiles {
    struct Tensor {
        var name: String
        var dtype = "F16"
        var shape: [Int]
    }

    static let smolDimensions = (hidden: 576, q: 576, kv: 192, ffn: 1536)

    static func key(_ layer: Int, _ module: String, _ ab: String) -> String {
        let block = ["q_proj", "k_proj", "v_proj", "o_proj"].contains(module) ? "self_attn" : "mlp"
        return "base_model.model.model.layers.\(layer).\(block).\(module).lora_\(ab).weight"
    }

    /// A valid pair for `module` at `layer`, rank `r`, on SmolLM2's shapes.
    static func pair(_ layer: Int, _ module: String, r: Int) -> [Tensor] {
        let (fanIn, fanOut): (Int, Int) = switch module {
        case "q_proj": (576, 576)
        case "k_proj", "v_proj": (576, 192)
        case "o_proj": (576, 576)
        case "gate_proj", "up_proj": (576, 1536)
        default: (1536, 576)
        }
        return [Tensor(name: key(layer, module, "A"), shape: [r, fanIn]), Tensor(name: key(layer, module, "B"), shape: [fanOut, r])]
    }

    static func safetensors(_ tensors: [Tensor]) -> Data {
        var offset = 0
        var entries: [String: Any] = ["__metadata__": ["format": "pt"]]
        for t in tensors {
            let size = t.shape.reduce(t.dtype == "F32" ? 4 : 2, *)
            entries[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        let json = try! JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys])
        var data = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        data.append(Data(count: offset))
        return data
    }

    static func config(r: Int = 8, alpha: Double = 16, modules: [String] = ["q_proj", "v_proj"], extra: [String: Any] = [:]) -> Data {
        var object: [String: Any] = [
            "peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": modules, "bias": "none",
            "fan_in_fan_out": false, "modules_to_save": NSNull(), "use_rslora": false, "use_dora": false,
            "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "task_type": "CAUSAL_LM",
        ]
        object.merge(extra) { $1 }
        return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Writes a directory with both files and returns its path.
    static func write(config: Data, tensors: [Tensor]) throws -> String {
        let directory = try TestPaths.temporaryDirectory("adapter")
        try config.write(to: directory.appendingPathComponent("adapter_config.json"))
        try safetensors(tensors).write(to: directory.appendingPathComponent("adapter_model.safetensors"))
        return directory.path
    }
}
