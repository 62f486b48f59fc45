import PatchworkFormats

/// Where a model's tensors come from: a GGUF file or Hugging Face safetensors. Tensors are
/// named the Hugging Face way (`model.layers.0.self_attn.q_proj.weight`) and read as f32,
/// row-major, PyTorch's `[out, in]` order.
protocol TensorSource {
    func has(_ name: String) -> Bool
    /// The tensor's values; throws when it is missing or its element count differs.
    func floats(_ name: String, count: Int) throws(ModelFileError) -> [Float]
}
