import Foundation
@testable import PatchworkEngine
import PatchworkFormats
import PatchworkTesting
import Testing

/// Packed weights hold the file's values: rows read back from the kernels' tiles equal the
/// file's blocks decoded by `GGMLType` (gguf-py's decoding), q/k rows in Hugging Face's order.
@Suite(.serialized) struct WeightMatrixTests {
    static let model = Result { try Model(path: TestPaths.model.path) }

    /// The file's rows of a tensor, decoded, in the file's order.
    static func fileRows(_ ggufName: String) throws -> (rows: Int, columns: Int, values: [Float]) {
        let file = try GGUFFile(path: TestPaths.model.path)
        let info = try #require(file.tensors.first { $0.name == ggufName })
        let type = try #require(GGMLType(rawValue: info.typeID))
        let count = info.dimensions.reduce(1, *)
        let data = try Data(contentsOf: TestPaths.model, options: .alwaysMapped)
        var values = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress! + file.dataOffset + info.offset, count: count, into: $0.baseAddress!) }
        }
        return (count / info.dimensions[0], info.dimensions[0], values)
    }

    @Test func packedRowsDecodeToTheFileValuesInHuggingFaceOrder() throws {
        let model = try Self.model.get()
        let layer = model.weights.layers[0]
        #expect(layer.wqkv.isPacked && layer.wqkv.encodings == ["Q4_1"])
        let (heads, kvHeads, headDim) = (9, 3, 64)
        var row = [Float](repeating: 0, count: 576)
        var offset = 0
        for (name, count) in [("blk.0.attn_q.weight", heads), ("blk.0.attn_k.weight", kvHeads), ("blk.0.attn_v.weight", 0)] {
            let file = try Self.fileRows(name)
            for r in 0..<file.rows {
                // llama.cpp's permutation: file row 2i + p of a head is Hugging Face's p·(d/2) + i.
                let (h, t) = (r / headDim, r % headDim)
                let fileRow = count == 0 ? r : h * headDim + 2 * (t % (headDim / 2)) + t / (headDim / 2)
                row.withUnsafeMutableBufferPointer { layer.wqkv.row(offset + r, into: $0.baseAddress!) }
                #expect(Array(file.values[fileRow * 576..<(fileRow + 1) * 576]) == row, "\(name) row \(r)")
            }
            offset += file.rows
        }
        let embedding = try Self.fileRows("token_embd.weight")
        for r in [0, 1, 2, 49151] {
            row.withUnsafeMutableBufferPointer { model.weights.embedding.row(r, into: $0.baseAddress!) }
            #expect(Array(embedding.values[r * 576..<(r + 1) * 576]) == row)
        }
    }
}

extension WeightMatrixTests {
    @Test(arguments: [1, 5])
    func packedProductsMatchTheDecodedWeights(rows: Int) throws {
        let model = try Self.model.get()
        let layer = model.weights.layers[3]
        let scratch = ForwardScratch(config: model.config, maxTokens: 8, maxContext: 16)
        let compute = Compute(backend: .openBLAS, pool: .shared)
        for (name, w) in [("qkv", layer.wqkv), ("o", layer.wo), ("gateUp", layer.wGateUp), ("down", layer.wDown), ("head", model.weights.embedding)] {
            var x = [Float](repeating: 0, count: rows * w.columns)
            var seed: UInt64 = 7
            for i in x.indices {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                x[i] = Float(Int(seed >> 40) % 2001 - 1000) / 1000
            }
            var y = [Float](repeating: 0, count: rows * w.rows)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                compute.linear(xp.baseAddress!, w, yp.baseAddress!, rows: rows, activations: scratch.activations)
            } }
            var worst: Float = 0, largest: Float = 0
            var row = [Float](repeating: 0, count: w.columns)
            for o in 0..<w.rows {
                row.withUnsafeMutableBufferPointer { w.row(o, into: $0.baseAddress!) }
                for r in 0..<rows {
                    var exact: Float = 0
                    for k in 0..<w.columns { exact += row[k] * x[r * w.columns + k] }
                    worst = max(worst, abs(exact - y[r * w.rows + o]))
                    largest = max(largest, abs(exact))
                }
            }
            // int8 activations: about 1 % of the largest output.
            #expect(worst <= 0.02 * largest, "\(name): |Δ| \(worst) of \(largest)")
        }
    }
}
