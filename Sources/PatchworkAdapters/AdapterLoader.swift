import Foundation
import PatchworkCore
import PatchworkEngine

/// A loaded, validated adapter.
public struct AdapterRecord: Sendable, Equatable {
    public var name: AdapterName
    public var source: AdapterSource
    /// The directory holding `adapter_config.json` and `adapter_model.safetensors`.
    public var directory: String
    public var digest: ContentDigest
    public var validated: AdapterValidator.Result
    public var baseModelNameOrPath: String?
    /// Seconds since the Unix epoch, from the registry's clock.
    public var loadedAt: Double
    /// The weights, read once at load, and the cache namespace of this content.
    public var resident: ResidentAdapter

    public static func == (a: AdapterRecord, b: AdapterRecord) -> Bool {
        a.name == b.name && a.source == b.source && a.directory == b.directory && a.digest == b.digest && a.validated == b.validated
            && a.baseModelNameOrPath == b.baseModelNameOrPath && a.loadedAt == b.loadedAt && a.resident === b.resident
    }

    public var loraID: LoRAID { name.loraID }

    public var summary: AdapterSummary {
        AdapterSummary(
            name: name, loraID: loraID, source: source.description, digest: digest, rank: validated.rank,
            alpha: validated.alpha, targetModules: validated.targetModules, bytes: validated.weightBytes
        )
    }
}

/// Reads an adapter directory, validates it against the base model and computes its digest.
public struct AdapterLoader: Sendable {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    public let validator: AdapterValidator

    public init(validator: AdapterValidator) { self.validator = validator }

    /// Loads `source`. Blocking file I/O: call it off the cooperative pool's hot paths.
    /// - Throws: ``AdapterError``: 404 when the directory or a file is missing, 422 when invalid.
    public func load(name: AdapterName, source: AdapterSource, now: Double) throws(AdapterError) -> AdapterRecord {
        guard case .file(let directory) = source else { throw AdapterError(.badRequest, "unsupported source \(source)") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw AdapterError(.notFound, "adapter source \(source) does not exist")
        }
        guard isDirectory.boolValue else {
            throw AdapterError(.badRequest, "adapter source \(source) is a file; name the directory holding \(Self.configFile)")
        }
        let configPath = (directory as NSString).appendingPathComponent(Self.configFile)
        let weightsPath = (directory as NSString).appendingPathComponent(Self.weightsFile)
        guard let configData = FileManager.default.contents(atPath: configPath) else {
            throw AdapterError(.notFound, "adapter source \(source) has no \(Self.configFile)")
        }
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            let hasPickle = FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("adapter_model.bin"))
            throw AdapterError(
                hasPickle ? .invalidAdapter : .notFound,
                hasPickle
                    ? "adapter source \(source) has only adapter_model.bin (pickle); save it with safetensors"
                    : "adapter source \(source) has no \(Self.weightsFile)"
            )
        }
        let config = try PEFTConfig.parse(configData)
        let header: SafetensorsHeader
        do { header = try SafetensorsHeader.read(path: weightsPath) } catch {
            let kind: AdapterError.Kind = switch error.kind {
            case .notFound: .notFound
            case .invalid: .invalidAdapter
            case .io: .internalFailure
            }
            throw AdapterError(kind, error.message)
        }
        let validated = try validator.validate(config: config, header: header)
        let digest = try AdapterDigest.compute(directory: directory, files: [Self.configFile, Self.weightsFile])
        let weights: LoRAWeights
        do {
            weights = try LoRAWeights.load(weightsPath: weightsPath, layers: validator.dimensions.layers, rank: validated.rank, scale: Float(validated.scale))
        } catch {
            throw AdapterError(.invalidAdapter, "adapter source \(source): \(error.message)")
        }
        return AdapterRecord(
            name: name, source: source, directory: directory, digest: digest, validated: validated,
            baseModelNameOrPath: config.baseModelNameOrPath, loadedAt: now,
            resident: ResidentAdapter(name: name.rawValue, weights: weights, namespace: .adapter(name: name, digest: digest))
        )
    }
}
