/// The tensor encodings of GGUF files that the engine reads, and how to turn each into f32.
///
/// Quantized types store blocks of 32 values: a scale `d` (f16), for Q4_1 a minimum `m` (f16),
/// then the quantized values. Q4 blocks hold element `i` in the low nibble of byte `i` and
/// element `i + 16` in its high nibble.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8
    case bf16 = 30

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        }
    }

    /// Bytes that `count` elements take.
    public func bytes(count: Int) -> Int { count / blockSize * blockBytes }

    /// Decodes `count` elements starting at `source` into `destination`.
    /// - Precondition: `count` is a multiple of ``blockSize``.
    public func dequantize(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            // Safetensors data need not be 4-byte aligned: copy bytes.
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: 4 * count)
        case .f16:
            for i in 0..<count { destination[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .q8_0:
            for block in 0..<count / 32 {
                let base = source + block * 34
                let d = Self.half(base, 0)
                let out = destination + block * 32
                for i in 0..<32 { out[i] = Float(Int8(bitPattern: base.load(fromByteOffset: 2 + i, as: UInt8.self))) * d }
            }
        case .q4_0:
            for block in 0..<count / 32 {
                let base = source + block * 18
                let d = Self.half(base, 0)
                let out = destination + block * 32
                for i in 0..<16 {
                    let byte = base.load(fromByteOffset: 2 + i, as: UInt8.self)
                    out[i] = Float(Int(byte & 0x0f) - 8) * d
                    out[i + 16] = Float(Int(byte >> 4) - 8) * d
                }
            }
        case .q4_1:
            for block in 0..<count / 32 {
                let base = source + block * 20
                let d = Self.half(base, 0), m = Self.half(base, 2)
                let out = destination + block * 32
                for i in 0..<16 {
                    let byte = base.load(fromByteOffset: 4 + i, as: UInt8.self)
                    out[i] = Float(byte & 0x0f) * d + m
                    out[i + 16] = Float(byte >> 4) * d + m
                }
            }
        }
    }

    private static func half(_ pointer: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: pointer.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }
}
