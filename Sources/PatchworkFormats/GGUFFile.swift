import Foundation

/// A GGUF file (versions 2 and 3): its metadata and tensor directory, read with bounds checks
/// from a memory-mapped file. Tensor data stays on disk until the engine maps it.
public struct GGUFFile: Sendable {
    public enum Value: Sendable, Equatable {
        case uint(UInt64)
        case int(Int64)
        case float(Double)
        case bool(Bool)
        case string(String)
        case array([Value])

        public var intValue: Int? {
            switch self {
            case .uint(let u): return u <= UInt64(Int.max) ? Int(u) : nil
            case .int(let i): return Int(i)
            default: return nil
            }
        }

        public var doubleValue: Double? {
            switch self {
            case .float(let d): return d
            case .uint, .int: return intValue.map(Double.init)
            default: return nil
            }
        }

        public var stringValue: String? {
            if case .string(let s) = self { return s }
            return nil
        }

        public var arrayValue: [Value]? {
            if case .array(let a) = self { return a }
            return nil
        }
    }

    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        /// Dimensions as GGUF stores them: innermost (contiguous) first.
        public var dimensions: [Int]
        /// The ggml type id (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 8 Q8_0, 30 BF16, …).
        public var typeID: UInt32
        /// Offset of the data from the start of the data section.
        public var offset: Int
    }

    public var version: UInt32
    public var metadata: [String: Value]
    public var tensors: [TensorInfo]
    /// Offset of the data section from the start of the file.
    public var dataOffset: Int

    /// Reads the file at `path`.
    /// - Throws: ``ModelFileError`` naming the file and what is wrong.
    public init(path: String) throws(ModelFileError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw ModelFileError("cannot read model file \(path): \(error.localizedDescription)")
        }
        let parsed = data.withUnsafeBytes { raw -> Result<GGUFFile, ModelFileError> in
            var cursor = Cursor(bytes: raw)
            do throws(ModelFileError) { return .success(try GGUFFile(cursor: &cursor)) } catch { return .failure(error) }
        }
        switch parsed {
        case .success(let file): self = file
        case .failure(let error): throw ModelFileError("\(path): \(error.message)")
        }
    }

    private init(cursor: inout Cursor) throws(ModelFileError) {
        guard try cursor.read(UInt32.self) == 0x4655_4747 else { throw ModelFileError("not a GGUF file (bad magic)") }
        version = try cursor.read(UInt32.self)
        guard version == 2 || version == 3 else { throw ModelFileError("GGUF version \(version) is not supported (2 or 3)") }
        let tensorCount = try cursor.read(UInt64.self)
        let metadataCount = try cursor.read(UInt64.self)
        // Each entry takes at least a few bytes: refuse counts the file cannot hold.
        guard tensorCount < UInt64(cursor.remaining), metadataCount < UInt64(cursor.remaining) else {
            throw ModelFileError("GGUF header counts exceed the file size")
        }
        var metadata: [String: Value] = [:]
        for _ in 0..<metadataCount {
            let key = try cursor.readString()
            metadata[key] = try cursor.readValue(type: try cursor.read(UInt32.self), depth: 0)
        }
        var tensors: [TensorInfo] = []
        for _ in 0..<tensorCount {
            let name = try cursor.readString()
            let dimensionCount = try cursor.read(UInt32.self)
            guard dimensionCount <= 8 else { throw ModelFileError("tensor '\(name)' has \(dimensionCount) dimensions") }
            var dimensions: [Int] = []
            for _ in 0..<dimensionCount { dimensions.append(Int(clamping: try cursor.read(UInt64.self))) }
            let typeID = try cursor.read(UInt32.self)
            let offset = Int(clamping: try cursor.read(UInt64.self))
            tensors.append(TensorInfo(name: name, dimensions: dimensions, typeID: typeID, offset: offset))
        }
        let alignment = metadata["general.alignment"]?.intValue ?? 32
        guard alignment > 0 else { throw ModelFileError("general.alignment must be positive") }
        dataOffset = (cursor.offset + alignment - 1) / alignment * alignment
        self.metadata = metadata
        self.tensors = tensors
    }

    /// A bounds-checked little-endian reader.
    private struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var offset = 0
        var remaining: Int { bytes.count - offset }

        mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws(ModelFileError) -> T {
            let size = MemoryLayout<T>.size
            guard remaining >= size else { throw ModelFileError("file ends early at byte \(offset)") }
            defer { offset += size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }

        mutating func readString() throws(ModelFileError) -> String {
            let length = try read(UInt64.self)
            guard length <= UInt64(remaining) else { throw ModelFileError("string of \(length) bytes at \(offset) exceeds the file") }
            defer { offset += Int(length) }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)]), as: UTF8.self)
        }

        mutating func readValue(type: UInt32, depth: Int) throws(ModelFileError) -> Value {
            switch type {
            case 0: return .uint(UInt64(try read(UInt8.self)))
            case 1: return .int(Int64(try read(Int8.self)))
            case 2: return .uint(UInt64(try read(UInt16.self)))
            case 3: return .int(Int64(try read(Int16.self)))
            case 4: return .uint(UInt64(try read(UInt32.self)))
            case 5: return .int(Int64(try read(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try read(UInt32.self))))
            case 7: return .bool(try read(UInt8.self) != 0)
            case 8: return .string(try readString())
            case 9:
                guard depth < 4 else { throw ModelFileError("arrays nested too deep") }
                let elementType = try read(UInt32.self)
                let count = try read(UInt64.self)
                guard count <= UInt64(remaining) else { throw ModelFileError("array of \(count) elements exceeds the file") }
                var items: [Value] = []
                items.reserveCapacity(Int(count))
                for _ in 0..<count { items.append(try readValue(type: elementType, depth: depth + 1)) }
                return .array(items)
            case 10: return .uint(try read(UInt64.self))
            case 11: return .int(try read(Int64.self))
            case 12: return .float(Double(bitPattern: try read(UInt64.self)))
            default: throw ModelFileError("unknown metadata value type \(type) at byte \(offset)")
            }
        }
    }
}

/// A model file is missing, unreadable or not what the engine supports.
public struct ModelFileError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
