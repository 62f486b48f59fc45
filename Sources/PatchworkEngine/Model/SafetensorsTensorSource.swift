import Foundation
import PatchworkFormats

/// Reads tensors from a Hugging Face directory: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json`, in their encoding (F32, F16, BF16).
struct SafetensorsTensorSource: TensorSource {
    private struct Location {
        var file: Int
        var tensor: SafetensorsHeader.Tensor
    }

    private let files: [(reader: FileReader, dataStart: Int)]
    private let locations: [String: Location]

    init(directory: String) throws(ModelFileError) {
        let fm = FileManager.default
        let indexPath = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        var shardNames = ["model.safetensors"]
        if let index = fm.contents(atPath: indexPath) {
            struct Index: Decodable { var weight_map: [String: String] }
            do { shardNames = Array(Set(try JSONDecoder().decode(Index.self, from: index).weight_map.values)).sorted() } catch {
                throw ModelFileError("\(indexPath): \(error)")
            }
        }
        var files: [(FileReader, Int)] = []
        var locations: [String: Location] = [:]
        for (number, name) in shardNames.enumerated() {
            let path = (directory as NSString).appendingPathComponent(name)
            let header: SafetensorsHeader
            do { header = try SafetensorsHeader.read(path: path) } catch { throw ModelFileError("\(path): \(error.message)") }
            files.append((try FileReader(path: path), 8 + header.headerBytes))
            for tensor in header.tensors { locations[tensor.name] = Location(file: number, tensor: tensor) }
        }
        self.files = files
        self.locations = locations
    }

    func has(_ name: String) -> Bool { locations[name] != nil }

    func floats(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
        let tensor = try self.tensor(name, rows: 1, columns: count, checkShape: false)
        return try tensor.floats()
    }

    func tensor(_ name: String, rows: Int, columns: Int) throws(ModelFileError) -> EncodedTensor {
        try tensor(name, rows: rows, columns: columns, checkShape: true)
    }

    private func tensor(_ name: String, rows: Int, columns: Int, checkShape: Bool) throws(ModelFileError) -> EncodedTensor {
        guard let location = locations[name] else { throw ModelFileError("tensor \(name) is missing") }
        let tensor = location.tensor
        let elements = tensor.shape.reduce(1, *)
        guard elements == rows * columns else { throw ModelFileError("tensor \(name) has \(elements) elements, expected \(rows * columns)") }
        if checkShape && tensor.shape.count == 2 && tensor.shape[1] != columns {
            throw ModelFileError("tensor \(name) has shape \(tensor.shape), expected [\(rows), \(columns)]")
        }
        let (reader, dataStart) = files[location.file]
        let type: GGMLType = switch tensor.dtype {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
        let start = dataStart + tensor.dataRange.lowerBound, rowBytes = type.bytes(count: columns)
        return EncodedTensor(name: name, type: type, rows: rows, columns: columns) { (range, buffer) throws(ModelFileError) in
            try reader.read(offset: start + range.lowerBound * rowBytes, count: range.count * rowBytes, into: buffer)
        }
    }
}
