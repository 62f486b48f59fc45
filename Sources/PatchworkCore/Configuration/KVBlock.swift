/// The KV cache's unit of allocation, sharing and routing.
public enum KVBlock {
    /// Tokens per block unless a worker is started with another `--block-size` (vLLM's default
    /// on GPUs). Routers read each worker's own size from its model card.
    public static let defaultSize = 16
}
