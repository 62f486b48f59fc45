/// How the KV cache stores keys and values (`--kv-cache-dtype`, as vLLM names it).
public enum KVCacheType: String, Sendable, CaseIterable {
    /// f32: the forward pass's own values (f32, f16 and bf16 models, checked against
    /// transformers to 1e-3).
    case f32
    /// f16, as llama.cpp keeps its cache by default: half the memory and half the bytes decode
    /// attention reads, rounded to 11 significant bits.
    case f16

    /// Bytes per value.
    public var bytes: Int { self == .f32 ? 4 : 2 }
}
