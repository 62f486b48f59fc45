import PatchworkCore

extension LoadMetrics {
    /// The worker's reported work, in blocks of `blockSize` tokens: prefill still to compute
    /// plus the blocks of decoding requests; from workers that report neither, all KV blocks in
    /// use.
    public func busyBlocks(blockSize: Int) -> Int {
        guard let queued = queuedPrefillTokens, let decoding = decodeBlocks else { return kvBlocksUsed }
        return (queued + blockSize - 1) / max(blockSize, 1) + decoding
    }
}
