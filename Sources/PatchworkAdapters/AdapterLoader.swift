import Foundation
import PatchworkCore
import PatchworkFormats

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
    /// The weight file's bytes, read once at load (the adapter's compact, host-memory form).
    public var weightsData: Data
    /// Keep it resident whatever the load (`"pinned": true` on load).
    public var pinned = false
    /// The cache entry `directory` belongs to (remote sources), leased while this record lives.
    public var cacheKey: String?

    /// Blocks computed under this adapter are cached under its contents, not its name.
    public var namespace: CacheNamespace { .adapter(name: name, digest: digest) }

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

    /// Loads a file:// source from its own folder.
    public func load(name: AdapterName, source: AdapterSource, now: Double) throws(AdapterError) -> AdapterRecord {
        guard case .file(let directory) = source else { throw AdapterError(.badRequest, "\(source) must be fetched into the adapter cache first") }
        return try load(name: name, source: source, directory: directory, now: now)
    }

    /// Loads the adapter of `source` from `directory` (the source's own folder for file://, its
    /// cache entry otherwise). Blocking file I/O: run it on a thread that may block.
    /// - Throws: ``AdapterError``: 404 when the directory or a file is missing, 422 when invalid.
    public func load(name: AdapterName, source: AdapterSource, directory: String, now: Double) throws(AdapterError) -> AdapterRecord {
        let (config, header, validated) = try inspect(directory: directory, source: source.description)
        let weightsPath = (directory as NSString).appendingPathComponent(Self.weightsFile)
        let digest = try AdapterDigest.compute(directory: directory, files: [Self.configFile, Self.weightsFile])
        guard let weightsData = FileManager.default.contents(atPath: weightsPath) else {
            throw AdapterError(.internalFailure, "cannot read \(Self.weightsFile) in \(directory)")
        }
        // The bytes kept are the ones checked: a file replaced since its header was read is refused
        // here, not at first use.
        do throws(SafetensorsError) {
            let kept = try SafetensorsHeader.parse(file: weightsData, fileName: Self.weightsFile)
            guard kept.tensors == header.tensors else { throw SafetensorsError(.invalid, "\(Self.weightsFile) changed while it was being loaded") }
        } catch {
            throw AdapterError(.invalidAdapter, "adapter source \(source): \(error.message)")
        }
        return AdapterRecord(
            name: name, source: source, directory: directory, digest: digest, validated: validated,
            baseModelNameOrPath: config.baseModelNameOrPath, loadedAt: now, weightsData: weightsData
        )
    }

    /// Checks that `directory` holds a valid adapter for this model, reading only the config and
    /// the weight file's header (also used on downloads before they are installed).
    public func validate(directory: String, source: String) throws(AdapterError) {
        _ = try inspect(directory: directory, source: source)
    }

    /// Reads and validates the config and the weights' header. A folder with neither file is
    /// not an adapter (404); any other problem is reported together with every other one (422),
    /// so that a user fixes the folder in one round.
    private func inspect(directory: String, source: String) throws(AdapterError) -> (PEFTConfig, SafetensorsHeader, AdapterValidator.Result) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw AdapterError(.notFound, "adapter source \(source) does not exist")
        }
        guard isDirectory.boolValue else {
            throw AdapterError(.badRequest, "adapter source \(source) is a file; name the directory holding \(Self.configFile)")
        }
        let configPath = (directory as NSString).appendingPathComponent(Self.configFile)
        let weightsPath = (directory as NSString).appendingPathComponent(Self.weightsFile)
        let configData = FileManager.default.contents(atPath: configPath)
        let hasWeights = FileManager.default.fileExists(atPath: weightsPath)
        let hasPickle = FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("adapter_model.bin"))
        if configData == nil && !hasWeights && !hasPickle {
            throw AdapterError(.notFound, "adapter source \(source) has no \(Self.configFile) and no \(Self.weightsFile)")
        }
        var problems: [String] = []
        var config: PEFTConfig?
        if let configData {
            do { config = try PEFTConfig.parse(configData) } catch { problems.append(error.message) }
        } else {
            problems.append("it has no \(Self.configFile)")
        }
        var header: SafetensorsHeader?
        if hasWeights {
            do { header = try SafetensorsHeader.read(path: weightsPath) } catch {
                if error.kind == .io { throw AdapterError(.internalFailure, error.message) }
                problems.append(error.message)
            }
        } else {
            problems.append(hasPickle ? "it has only adapter_model.bin (pickle); save it with safetensors" : "it has no \(Self.weightsFile)")
        }
        if let config, let header, problems.isEmpty { return (config, header, try validator.validate(config: config, header: header)) }
        throw AdapterError(.invalidAdapter, "adapter source \(source) is not a valid adapter: " + problems.joined(separator: "; "))
    }
}
