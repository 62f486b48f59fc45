import PatchworkCore

/// The KV cache's memory: `blockCount` blocks of `blockSize` positions for every layer.
/// Position `p` of a sequence lives in row `blockTable[p / blockSize] · blockSize + p % blockSize`.
/// Owned by the one task that runs the model.
public final class PagedKVStorage {
    public let blockSize: Int
    public let blockCount: Int
    let layers: Int
    let kvDim: Int
    /// [layers, blockCount · blockSize, kvDim]
    let keys: UnsafeMutablePointer<Float>
    /// [layers, blockCount · blockSize, kvDim]
    let values: UnsafeMutablePointer<Float>

    public init(config: ModelConfig, blockSize: Int, blockCount: Int) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        layers = config.dimensions.layers
        kvDim = config.kvDim
        let count = layers * blockCount * blockSize * kvDim
        keys = .allocate(capacity: count)
        keys.initialize(repeating: 0, count: count)
        values = .allocate(capacity: count)
        values.initialize(repeating: 0, count: count)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes of K and V.
    public var bytes: Int { 2 * layers * blockCount * blockSize * kvDim * 4 }

    /// Bytes one block takes across all layers.
    public static func bytesPerBlock(config: ModelConfig, blockSize: Int) -> Int {
        2 * config.dimensions.layers * blockSize * config.kvDim * 4
    }

    @inline(__always) func row(layer: Int, blockTable: [Int], position: Int) -> Int {
        (layer * blockCount + blockTable[position / blockSize]) * blockSize + position % blockSize
    }
}
