import Foundation
import PatchworkFormats
import PatchworkTesting
import Testing

/// Every supported GGML encoding against gguf-py (llama.cpp's Python package): the same bytes
/// must decode to the same floats.
struct GGMLTypeTests {
    struct Vector: Decodable { var type: String; var type_id: UInt32; var bytes: String; var values: [Float] }

    @Test func decodesLikeGGUFPy() throws {
        let vectors = try TestPaths.reference("quantization", as: [Vector].self)
        #expect(Set(vectors.map(\.type)) == ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"])
        for vector in vectors {
            let type = try #require(GGMLType(rawValue: vector.type_id), "\(vector.type)")
            var bytes: [UInt8] = []
            var index = vector.bytes.startIndex
            while index < vector.bytes.endIndex {
                let next = vector.bytes.index(index, offsetBy: 2)
                bytes.append(UInt8(vector.bytes[index..<next], radix: 16)!)
                index = next
            }
            #expect(bytes.count == type.bytes(count: vector.values.count), "\(vector.type) size")
            var decoded = [Float](repeating: .nan, count: vector.values.count)
            bytes.withUnsafeBytes { raw in
                decoded.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, count: vector.values.count, into: $0.baseAddress!) }
            }
            #expect(decoded == vector.values, "\(vector.type)")
        }
    }
}
