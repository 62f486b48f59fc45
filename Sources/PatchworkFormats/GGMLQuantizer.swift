/// Quantization of f32 rows into GGML blocks, as llama.cpp's reference quantizers (and
/// gguf-py's, which reproduce them bit for bit) do it: what `--quantize` uses.
public enum GGMLQuantizer {
    /// The types a model can be quantized to at load.
    public static let targets: [GGMLType] = [.q8_0, .q4_0]

    /// Encodes `count` values (a multiple of 32) as `type` into `destination`
    /// (`type.bytes(count:)` bytes).
    /// - Q8_0: `d = max|x| / 127`, codes `round(x / d)` (halves away from zero).
    /// - Q4_0: `d = x_max / −8` for the value of largest magnitude, codes `min(15, trunc(x / d + 8.5))`.
    public static func quantize(_ values: UnsafePointer<Float>, count: Int, as type: GGMLType, into destination: UnsafeMutableRawPointer) {
        precondition(targets.contains(type) && count % 32 == 0, "quantize to Q8_0 or Q4_0, whole blocks")
        for block in 0..<count / 32 {
            let x = values + 32 * block
            var amax: Float = 0, extreme: Float = 0
            for i in 0..<32 where abs(x[i]) > amax {
                amax = abs(x[i])
                extreme = x[i]
            }
            switch type {
            case .q8_0:
                let out = destination + 34 * block
                let d = amax / 127, inverse: Float = d != 0 ? 1 / d : 0
                out.storeBytes(of: Float16(d).bitPattern, toByteOffset: 0, as: UInt16.self)
                for i in 0..<32 { out.storeBytes(of: Int8((x[i] * inverse).rounded(.toNearestOrAwayFromZero)), toByteOffset: 2 + i, as: Int8.self) }
            default:
                let out = destination + 18 * block
                let d = extreme / -8, inverse: Float = d != 0 ? 1 / d : 0
                out.storeBytes(of: Float16(d).bitPattern, toByteOffset: 0, as: UInt16.self)
                for i in 0..<16 {
                    let low = min(15, Int8(x[i] * inverse + 8.5)), high = min(15, Int8(x[i + 16] * inverse + 8.5))
                    out.storeBytes(of: UInt8(low) | UInt8(high) << 4, toByteOffset: 2 + i, as: UInt8.self)
                }
            }
        }
    }
}
