import PatchworkFormats

/// Where a model's tensors come from: a GGUF file or Hugging Face safetensors. Tensors are
/// named the Hugging Face way (`model.layers.0.self_attn.q_proj.weight`), row-major in
/// PyTorch's `[out, in]` order.
protocol TensorSource {
    func has(_ name: String) -> Bool
    /// The tensor's values as f32 (norms, biases); throws when it is missing or its element
    /// count differs.
    func floats(_ name: String, count: Int) throws(ModelFileError) -> [Float]
    /// The tensor as the file encodes it, `[rows, columns]`; throws when it is missing, its
    /// shape differs or its encoding is not supported (naming the tensor and the encoding).
    func tensor(_ name: String, rows: Int, columns: Int) throws(ModelFileError) -> EncodedTensor
}

/// A 2-D tensor in its file's encoding, read a range of rows at a time.
struct EncodedTensor {
    /// The name in the file (for messages).
    var name: String
    var type: GGMLType
    var rows: Int
    var columns: Int
    /// Reads rows `range`, in the engine's row order, into a buffer of
    /// `type.bytes(count: range.count · columns)` bytes.
    var readRows: (Range<Int>, UnsafeMutableRawPointer) throws(ModelFileError) -> Void

    var rowBytes: Int { type.bytes(count: columns) }

    /// Every value, decoded to f32.
    func floats() throws(ModelFileError) -> [Float] {
        let count = rows * columns
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(type.bytes(count: count), 1), alignment: 64)
        defer { bytes.deallocate() }
        try readRows(0..<rows, bytes)
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { type.dequantize(bytes, count: count, into: $0.baseAddress!) }
        return values
    }
}
