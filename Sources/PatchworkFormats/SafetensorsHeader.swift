import Foundation

/// The header of a `.safetensors` file: tensor names, dtypes, shapes and byte ranges.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON, then the data. Every
/// number is checked against the file's size before anything is trusted.
public struct SafetensorsHeader: Sendable, Equatable {
    /// Headers above this are refused (real adapter headers are a few KB to a few MB).
    public static let maxHeaderBytes = 100 << 20

    public enum DType: String, Sendable, Equatable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"
        public var byteSize: Int { self == .f32 ? 4 : 2 }
    }

    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Byte range within the data section.
        public var dataRange: Range<Int>
    }

    /// Tensors sorted by name.
    public var tensors: [Tensor]
    /// Bytes of tensor data.
    public var dataBytes: Int
    public var headerBytes: Int

    /// Reads and checks the header of the file at `path`.
    /// - Throws: ``AdapterError`` listing every problem found (422), or 404/500 for I/O.
    public static func read(path: String) throws(SafetensorsError) -> SafetensorsHeader {
        let fileName = (path as NSString).lastPathComponent
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SafetensorsError(.notFound, "cannot open \(fileName)")
        }
        defer { try? handle.close() }
        do {
            let fileSize = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
            guard fileSize >= 8, let lengthBytes = try handle.read(upToCount: 8), lengthBytes.count == 8 else {
                throw SafetensorsError(.invalid, "\(fileName): file is \(fileSize) bytes, too short for a safetensors header")
            }
            let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard length <= UInt64(min(maxHeaderBytes, fileSize - 8)) else {
                throw SafetensorsError(.invalid, "\(fileName): header length \(length) exceeds the file (\(fileSize) bytes) or the \(maxHeaderBytes)-byte limit")
            }
            let json = try handle.read(upToCount: Int(length)) ?? Data()
            return try parse(json: json, dataBytes: fileSize - 8 - Int(length), fileName: fileName)
        } catch let error as SafetensorsError {
            throw error
        } catch {
            throw SafetensorsError(.io, "\(fileName): read failed: \(error.localizedDescription)")
        }
    }

    /// Reads and checks the header of a whole safetensors file held in memory.
    public static func parse(file data: Data, fileName: String) throws(SafetensorsError) -> SafetensorsHeader {
        guard data.count >= 8 else { throw SafetensorsError(.invalid, "\(fileName): file is \(data.count) bytes, too short for a safetensors header") }
        let length = data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(min(maxHeaderBytes, data.count - 8)) else {
            throw SafetensorsError(.invalid, "\(fileName): header length \(length) exceeds the file (\(data.count) bytes) or the \(maxHeaderBytes)-byte limit")
        }
        let start = data.startIndex + 8
        return try parse(json: data.subdata(in: start..<start + Int(length)), dataBytes: data.count - 8 - Int(length), fileName: fileName)
    }

    /// Checks a header's JSON against a data section of `dataBytes` bytes.
    public static func parse(json: Data, dataBytes: Int, fileName: String) throws(SafetensorsError) -> SafetensorsHeader {
        guard let object = try? JSONSerialization.jsonObject(with: json), let entries = object as? [String: Any] else {
            throw SafetensorsError(.invalid, "\(fileName): header is not a JSON object")
        }
        var problems: [String] = []
        var tensors: [Tensor] = []
        for (name, raw) in entries.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            guard let entry = raw as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2, shape.count == (entry["shape"] as? [Any])?.count
            else {
                problems.append("tensor '\(name)' lacks dtype, shape or data_offsets")
                continue
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                problems.append("tensor '\(name)' has dtype \(dtypeName) (supported: F32, F16, BF16)")
                continue
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 32 }) else {
                problems.append("tensor '\(name)' has an invalid shape \(shape)")
                continue
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataBytes else {
                problems.append("tensor '\(name)' data [\(begin), \(end)) lies outside the \(dataBytes) data bytes")
                continue
            }
            let expected = shape.reduce(dtype.byteSize, *)
            guard end - begin == expected else {
                problems.append("tensor '\(name)' holds \(end - begin) bytes but \(dtypeName) \(shape) needs \(expected)")
                continue
            }
            tensors.append(Tensor(name: name, dtype: dtype, shape: shape, dataRange: begin..<end))
        }
        let byOffset = tensors.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.dataRange.overlaps(b.dataRange) {
            problems.append("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        guard problems.isEmpty else {
            throw SafetensorsError(.invalid, "\(fileName): " + problems.joined(separator: "; "))
        }
        return SafetensorsHeader(tensors: tensors, dataBytes: dataBytes, headerBytes: json.count)
    }
}

/// A safetensors file is missing, unreadable or malformed.
public struct SafetensorsError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, invalid, io }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
