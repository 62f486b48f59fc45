import Foundation
import PatchworkFormats

/// Reads tensors from a Hugging Face directory: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json`. F32, F16 and BF16 are converted to f32.
struct SafetensorsTensorSource: TensorSource {
    private struct Location {
        var file: Int
        var tensor: SafetensorsHeader.Tensor
    }

    private let files: [(data: Data, dataStart: Int)]
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
        var files: [(Data, Int)] = []
        var locations: [String: Location] = [:]
        for (number, name) in shardNames.enumerated() {
            let path = (directory as NSString).appendingPathComponent(name)
            let header: SafetensorsHeader
            do { header = try SafetensorsHeader.read(path: path) } catch { throw ModelFileError("\(path): \(error.message)") }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
                throw ModelFileError("cannot map \(path): \(error.localizedDescription)")
            }
            files.append((data, 8 + header.headerBytes))
            for tensor in header.tensors { locations[tensor.name] = Location(file: number, tensor: tensor) }
        }
        self.files = files
        self.locations = locations
    }

    func has(_ name: String) -> Bool { locations[name] != nil }

    func floats(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
        guard let location = locations[name] else { throw ModelFileError("tensor \(name) is missing") }
        let tensor = location.tensor
        let elements = tensor.shape.reduce(1, *)
        guard elements == count else { throw ModelFileError("tensor \(name) has \(elements) elements, expected \(count)") }
        let (data, dataStart) = files[location.file]
        let type: GGMLType = switch tensor.dtype {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
        var values = [Float](repeating: 0, count: elements)
        data.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                type.dequantize(raw.baseAddress! + dataStart + tensor.dataRange.lowerBound, count: elements, into: out.baseAddress!)
            }
        }
        return values
    }
}
