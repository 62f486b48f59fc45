import CPatchworkKernels
import PatchworkCore

/// The KV cache's memory: `blockCount` blocks of `blockSize` positions for every layer, in f32
/// or f16 (``KVCacheType``). Position `p` of a sequence lives in row
/// `blockTable[p / blockSize] · blockSize + p % blockSize`. Owned by the one task that runs the model.
public final class PagedKVStorage {
    public let blockSize: Int
    public let blockCount: Int
    public let type: KVCacheType
    let layers: Int
    let kvDim: Int
    /// [layers, blockCount · blockSize, kvDim] values of `type`.
    let keys: UnsafeMutableRawPointer
    /// [layers, blockCount · blockSize, kvDim] values of `type`.
    let values: UnsafeMutableRawPointer

    public init(config: ModelConfig, blockSize: Int, blockCount: Int, type: KVCacheType = .f32) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.type = type
        layers = config.dimensions.layers
        kvDim = config.kvDim
        let bytes = layers * blockCount * blockSize * kvDim * type.bytes
        keys = .allocate(byteCount: bytes, alignment: 64)
        keys.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        values = .allocate(byteCount: bytes, alignment: 64)
        values.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes of K and V.
    public var bytes: Int { 2 * layers * blockCount * blockSize * kvDim * type.bytes }

    /// Bytes one block takes across all layers.
    public static func bytesPerBlock(config: ModelConfig, blockSize: Int, type: KVCacheType = .f32) -> Int {
        2 * config.dimensions.layers * blockSize * config.kvDim * type.bytes
    }

    @inline(__always) func row(layer: Int, blockTable: [Int], position: Int) -> Int {
        (layer * blockCount + blockTable[position / blockSize]) * blockSize + position % blockSize
    }

    /// Layer `layer`'s keys and values (for the decode kernel, which walks the blocks).
    func layerKeys(_ layer: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + layer * blockCount * blockSize * kvDim * type.bytes) }
    func layerValues(_ layer: Int) -> UnsafeRawPointer { UnsafeRawPointer(values + layer * blockCount * blockSize * kvDim * type.bytes) }

    /// Stores one position's key and value rows (`kvDim` f32 values each).
    func store(row: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let offset = row * kvDim * type.bytes
        switch type {
        case .f32:
            (keys + offset).assumingMemoryBound(to: Float.self).update(from: key, count: kvDim)
            (values + offset).assumingMemoryBound(to: Float.self).update(from: value, count: kvDim)
        case .f16:
            pw_f32_to_f16(key, (keys + offset).assumingMemoryBound(to: UInt16.self), Int32(kvDim))
            pw_f32_to_f16(value, (values + offset).assumingMemoryBound(to: UInt16.self), Int32(kvDim))
        }
    }

    /// Copies `count` consecutive rows from `row` as f32 into `keys` and `values` (a
    /// prefilling sequence gathers its blocks into contiguous rows).
    func gather(row: Int, count: Int, keys keysOut: UnsafeMutablePointer<Float>, values valuesOut: UnsafeMutablePointer<Float>) {
        let offset = row * kvDim * type.bytes, n = count * kvDim
        switch type {
        case .f32:
            keysOut.update(from: (keys + offset).assumingMemoryBound(to: Float.self), count: n)
            valuesOut.update(from: (values + offset).assumingMemoryBound(to: Float.self), count: n)
        case .f16:
            pw_f16_to_f32((keys + offset).assumingMemoryBound(to: UInt16.self), keysOut, Int32(n))
            pw_f16_to_f32((values + offset).assumingMemoryBound(to: UInt16.self), valuesOut, Int32(n))
        }
    }
}
