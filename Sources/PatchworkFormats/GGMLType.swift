/// The tensor encodings of GGUF files that Patchwork reads, their block layouts, and how to
/// turn each into f32 (as gguf-py, llama.cpp's Python package, decodes them).
///
/// Quantized types store blocks: a scale `d` (f16), for the `_1` types a minimum `m`, then the
/// codes. Q4/Q5 blocks of 32 hold element `i` in the low nibble of byte `i` and element
/// `i + 16` in its high nibble; Q5 adds a 32-bit word of fifth bits. K-quants are super-blocks
/// of 256: Q4_K/Q5_K have eight 32-value sub-blocks with 6-bit scales and minima under an f16
/// `d` and `dmin`; Q6_K sixteen 16-value sub-blocks with int8 scales under an f16 `d`.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case bf16 = 30

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    /// The name llama.cpp gives the type ("Q4_K", "BF16").
    public var name: String { Self.name(typeID: rawValue) }

    /// llama.cpp's name for any ggml type id, supported or not (for error messages).
    public static func name(typeID: UInt32) -> String {
        let names: [UInt32: String] = [
            0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
            12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
            20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
            29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
        return names[typeID] ?? "type \(typeID)"
    }

    /// Bytes that `count` elements take.
    public func bytes(count: Int) -> Int { count / blockSize * blockBytes }

    /// Decodes `count` elements starting at `source` into `destination`.
    /// - Precondition: `count` is a multiple of ``blockSize``.
    public func dequantize(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        func byte(_ offset: Int) -> Int { Int(source.load(fromByteOffset: offset, as: UInt8.self)) }
        switch self {
        case .f32:
            // Safetensors data need not be 4-byte aligned: copy bytes.
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: 4 * count)
        case .f16:
            for i in 0..<count { destination[i] = Self.half(source, 2 * i) }
        case .bf16:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .q8_0:
            for block in 0..<count / 32 {
                let base = block * 34, d = Self.half(source, base)
                for i in 0..<32 { destination[block * 32 + i] = Float(Int8(truncatingIfNeeded: byte(base + 2 + i))) * d }
            }
        case .q4_0, .q4_1, .q5_0, .q5_1:
            let hasMin = self == .q4_1 || self == .q5_1, fiveBits = self == .q5_0 || self == .q5_1
            for block in 0..<count / 32 {
                let base = block * blockBytes
                let d = Self.half(source, base), m = hasMin ? Self.half(source, base + 2) : 0
                let codes = base + (hasMin ? 4 : 2) + (fiveBits ? 4 : 0)
                let high = fiveBits ? Int(UInt32(littleEndian: source.loadUnaligned(fromByteOffset: codes - 4, as: UInt32.self))) : 0
                let zero = hasMin ? 0 : (fiveBits ? 16 : 8)
                for i in 0..<16 {
                    let low = byte(codes + i) & 0x0f | ((high >> i) & 1) << 4
                    let upper = byte(codes + i) >> 4 | ((high >> (i + 16)) & 1) << 4
                    destination[block * 32 + i] = Float(low - zero) * d + m
                    destination[block * 32 + i + 16] = Float(upper - zero) * d + m
                }
            }
        case .q4_K, .q5_K:
            let fiveBits = self == .q5_K
            for block in 0..<count / 256 {
                let base = block * blockBytes
                let d = Self.half(source, base), dmin = Self.half(source, base + 2)
                for j in 0..<8 {
                    let (scale, min) = Self.kScaleMin(source + base + 4, j)
                    let codes = base + (fiveBits ? 48 : 16) + 32 * (j / 2)
                    for l in 0..<32 {
                        var q = (byte(codes + l) >> (4 * (j % 2))) & 0x0f
                        if fiveBits { q |= ((byte(base + 16 + l) >> j) & 1) << 4 }
                        destination[block * 256 + 32 * j + l] = d * Float(scale) * Float(q) - dmin * Float(min)
                    }
                }
            }
        case .q6_K:
            for block in 0..<count / 256 {
                let base = block * 210, d = Self.half(source, base + 208)
                for e in 0..<256 {
                    let (h, r) = (e / 128, e % 128)
                    let low = (byte(base + 64 * h + r % 64) >> (4 * (r / 64))) & 0x0f
                    let high = (byte(base + 128 + 32 * h + r % 32) >> (2 * (r / 32))) & 3
                    let scale = Int8(truncatingIfNeeded: byte(base + 192 + e / 16))
                    destination[block * 256 + e] = d * Float(scale) * Float((low | high << 4) - 32)
                }
            }
        }
    }

    /// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K super-block's 12 scale bytes.
    static func kScaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (scale: Int, min: Int) {
        func s(_ i: Int) -> Int { Int(scales.load(fromByteOffset: i, as: UInt8.self)) }
        if j < 4 { return (s(j) & 63, s(j + 4) & 63) }
        return ((s(j + 4) & 0x0f) | (s(j - 4) >> 6) << 4, (s(j + 4) >> 4) | (s(j) >> 6) << 4)
    }

    static func half(_ pointer: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: pointer.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }
}
