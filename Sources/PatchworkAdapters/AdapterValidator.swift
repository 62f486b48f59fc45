import Foundation
import PatchworkCore
import PatchworkFormats

/// Checks a PEFT LoRA adapter against the base model before anything is registered, and reports
/// every problem in one message (like vLLM's PEFT helper), so a user fixes them in one round.
public struct AdapterValidator: Sendable {
    /// The projections Patchwork applies LoRA to, and what each maps from and to.
    public static let supportedModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public let dimensions: ModelDimensions
    public let maxRank: Int

    public init(dimensions: ModelDimensions, maxRank: Int) {
        self.dimensions = dimensions
        self.maxRank = maxRank
    }

    /// `(in, out)` features of a supported module.
    public func shape(of module: String) -> (in: Int, out: Int)? {
        let d = dimensions
        switch module {
        case "q_proj": return (d.hidden, d.heads * d.headDim)
        case "k_proj", "v_proj": return (d.hidden, d.kvHeads * d.headDim)
        case "o_proj": return (d.heads * d.headDim, d.hidden)
        case "gate_proj", "up_proj": return (d.hidden, d.intermediate)
        case "down_proj": return (d.intermediate, d.hidden)
        default: return nil
        }
    }

    /// The adapter as validated: what the worker needs to describe and (later) run it.
    public struct Result: Sendable, Equatable {
        public var rank: Int
        public var alpha: Double
        /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA: the factor of `B(A x)`.
        public var scale: Double
        public var targetModules: [String]
        public var layers: [Int]
        public var weightBytes: Int
    }

    /// Validates a parsed config and weight header together.
    /// - Throws: ``AdapterError`` (422) whose message lists every problem.
    public func validate(config: PEFTConfig, header: SafetensorsHeader) throws(AdapterError) -> Result {
        var problems: [String] = []
        var unsupported: [String] = []

        if let type = config.peftType, type.uppercased() != "LORA" { problems.append("peft_type is \(type), not LORA") }
        let rank = config.rank ?? 0
        if config.rank == nil { problems.append("adapter_config.json has no rank 'r'") }
        else if rank <= 0 { problems.append("rank r = \(rank) must be positive") }
        else if rank > maxRank { problems.append("adapter rank \(rank) exceeds --max-lora-rank \(maxRank)") }
        let alpha = config.alpha ?? 8
        if config.useDoRA { unsupported.append("DoRA (use_dora)") }
        if !config.modulesToSave.isEmpty { unsupported.append("modules_to_save \(config.modulesToSave)") }
        if config.bias != "none" { unsupported.append("bias '\(config.bias)'") }
        if config.loraBias { unsupported.append("lora_bias") }
        if !config.rankPattern.isEmpty { unsupported.append("rank_pattern") }
        if !config.alphaPattern.isEmpty { unsupported.append("alpha_pattern") }

        // Group the weights by (layer, module) and check each lora_A / lora_B pair.
        struct Pair { var a: SafetensorsHeader.Tensor?; var b: SafetensorsHeader.Tensor? }
        var pairs: [String: [Int: Pair]] = [:]
        for tensor in header.tensors {
            guard let key = LoRATensorName(tensor.name) else {
                problems.append("unexpected tensor '\(tensor.name)'")
                continue
            }
            guard shape(of: key.module) != nil else {
                unsupported.append("target module '\(key.module)'")
                continue
            }
            if key.layer >= dimensions.layers {
                problems.append("tensor '\(tensor.name)' names layer \(key.layer) but the model has \(dimensions.layers)")
                continue
            }
            var pair = pairs[key.module, default: [:]][key.layer, default: Pair()]
            if key.isA { pair.a = tensor } else { pair.b = tensor }
            pairs[key.module, default: [:]][key.layer] = pair
        }
        for (module, layers) in pairs.sorted(by: { $0.key < $1.key }) {
            guard let (inFeatures, outFeatures) = shape(of: module) else { continue }
            for (layer, pair) in layers.sorted(by: { $0.key < $1.key }) {
                guard let a = pair.a, let b = pair.b else {
                    problems.append("layer \(layer) \(module) has lora_\(pair.a == nil ? "B" : "A") without lora_\(pair.a == nil ? "A" : "B")")
                    continue
                }
                if a.shape != [rank, inFeatures] {
                    problems.append("\(a.name) has shape \(a.shape), expected [\(rank), \(inFeatures)] (r, in)")
                }
                if b.shape != [outFeatures, rank] {
                    problems.append("\(b.name) has shape \(b.shape), expected [\(outFeatures), \(rank)] (out, r)")
                }
            }
        }
        let modules = pairs.keys.sorted()
        if pairs.isEmpty && header.tensors.isEmpty { problems.append("adapter_model.safetensors holds no tensors") }
        if case .names(let names)? = config.targetModules {
            let declared = Set(names.map { $0.split(separator: ".").last.map(String.init) ?? $0 })
            for name in declared.sorted() where shape(of: name) == nil {
                unsupported.append("target module '\(name)'")
            }
            let missing = declared.filter { shape(of: $0) != nil }.subtracting(modules)
            if !missing.isEmpty { problems.append("target_modules lists \(missing.sorted()) but the weights have none for them") }
        }
        if !unsupported.isEmpty {
            var seen = Set<String>()
            problems.append("unsupported: " + unsupported.filter { seen.insert($0).inserted }.joined(separator: ", "))
        }
        guard problems.isEmpty else { throw AdapterError(.invalidAdapter, problems.joined(separator: "; ")) }
        let layers = Set(pairs.values.flatMap(\.keys)).sorted()
        let scale = config.useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
        return Result(rank: rank, alpha: alpha, scale: scale, targetModules: modules, layers: layers, weightBytes: header.dataBytes)
    }
}

