import Foundation
import PatchworkCore
import PatchworkFormats

/// A LoRA adapter's weights, f32, applied unmerged: for each targeted projection
/// `y = W x + scale · B (A x)`, so many adapters share one copy of the base weights.
public struct LoRAWeights: Sendable {
    /// The projections an adapter may target, in the forward pass's order.
    public enum Target: String, Sendable, CaseIterable {
        case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj", gate = "gate_proj", up = "up_proj", down = "down_proj"
    }

    /// One projection's low-rank pair.
    public struct Pair: Sendable {
        /// [rank, in]
        public var a: [Float]
        /// [out, rank], as PEFT stores it.
        public var b: [Float] { didSet { bColumns = Self.columns(of: b, rank: rank) } }
        public var rank: Int
        /// `b` transposed, [rank, out]: the forward pass adds `t_k · B[:, k]` for k in order,
        /// contiguous rows (see ``Transformer``'s LoRA product).
        public private(set) var bColumns: [Float]

        public init(a: [Float], b: [Float], rank: Int) {
            self.a = a
            self.b = b
            self.rank = rank
            bColumns = Self.columns(of: b, rank: rank)
        }

        static func columns(of b: [Float], rank: Int) -> [Float] {
            guard rank > 0, !b.isEmpty else { return [] }
            let out = b.count / rank
            var t = [Float](repeating: 0, count: b.count)
            for o in 0..<out { for k in 0..<rank { t[k * out + o] = b[o * rank + k] } }
            return t
        }
    }

    /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    public var scale: Float
    public var rank: Int
    /// Per layer, the targeted projections.
    public var layers: [[Target: Pair]]

    /// Reads `adapter_model.safetensors` of an adapter validated against a model of `layers` layers.
    public static func load(weightsPath: String, layers: Int, rank: Int, scale: Float) throws(ModelFileError) -> LoRAWeights {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: weightsPath), options: .alwaysMapped) } catch {
            throw ModelFileError("cannot read \(weightsPath): \(error.localizedDescription)")
        }
        return try load(safetensors: data, layers: layers, rank: rank, scale: scale)
    }

    /// Decodes the bytes of an `adapter_model.safetensors` file.
    public static func load(safetensors data: Data, layers layerCount: Int, rank: Int, scale: Float) throws(ModelFileError) -> LoRAWeights {
        let header: SafetensorsHeader
        do { header = try SafetensorsHeader.parse(file: data, fileName: "adapter_model.safetensors") } catch { throw ModelFileError(error.message) }
        var layers = [[Target: Pair]](repeating: [:], count: layerCount)
        let dataStart = 8 + header.headerBytes
        for tensor in header.tensors {
            guard let name = LoRATensorName(tensor.name), let target = Target(rawValue: name.module),
                  name.layer < layers.count else { throw ModelFileError("unexpected adapter tensor \(tensor.name)") }
            let type: GGMLType = switch tensor.dtype {
            case .f32: .f32
            case .f16: .f16
            case .bf16: .bf16
            }
            let count = tensor.shape.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            data.withUnsafeBytes { raw in
                values.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress! + dataStart + tensor.dataRange.lowerBound, count: count, into: $0.baseAddress!) }
            }
            var pair = layers[name.layer][target] ?? Pair(a: [], b: [], rank: rank)
            if name.isA { pair.a = values } else { pair.b = values }
            layers[name.layer][target] = pair
        }
        return LoRAWeights(scale: scale, rank: rank, layers: layers)
    }

    public init(scale: Float, rank: Int, layers: [[Target: Pair]]) {
        self.scale = scale
        self.rank = rank
        self.layers = layers
    }

    public var bytes: Int { layers.reduce(0) { $0 + $1.values.reduce(0) { $0 + 4 * ($1.a.count + $1.b.count + $1.bColumns.count) } } }
}
