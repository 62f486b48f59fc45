import Foundation

/// The fields of PEFT's `LoraConfig` (`adapter_config.json`) that decide how an adapter runs.
public struct PEFTConfig: Decodable, Sendable, Equatable {
    public var peftType: String?
    /// The rank `r`.
    public var rank: Int?
    /// `lora_alpha`; PEFT's default is 8.
    public var alpha: Double?
    public var useRSLoRA: Bool
    /// A list of module names, or (in PEFT) a regular expression over full module names.
    public var targetModules: TargetModules?
    public var fanInFanOut: Bool
    /// `none`, `all` or `lora_only`; only `none` is served.
    public var bias: String
    public var modulesToSave: [String]
    public var baseModelNameOrPath: String?
    public var useDoRA: Bool
    /// A bias on lora_B (PEFT's `lora_bias`); not served.
    public var loraBias: Bool
    public var rankPattern: [String: Int]
    public var alphaPattern: [String: Double]

    /// `target_modules` as PEFT writes it.
    public enum TargetModules: Decodable, Sendable, Equatable {
        case names([String])
        case pattern(String)

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let names = try? c.decode([String].self) { self = .names(names) } else { self = .pattern(try c.decode(String.self)) }
        }
    }

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", rank = "r", alpha = "lora_alpha", useRSLoRA = "use_rslora"
        case targetModules = "target_modules", fanInFanOut = "fan_in_fan_out", bias
        case modulesToSave = "modules_to_save", baseModelNameOrPath = "base_model_name_or_path"
        case useDoRA = "use_dora", loraBias = "lora_bias", rankPattern = "rank_pattern", alphaPattern = "alpha_pattern"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank)
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha)
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false
        targetModules = try c.decodeIfPresent(TargetModules.self, forKey: .targetModules)
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave) ?? []
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        useDoRA = try c.decodeIfPresent(Bool.self, forKey: .useDoRA) ?? false
        loraBias = try c.decodeIfPresent(Bool.self, forKey: .loraBias) ?? false
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern) ?? [:]
        alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern) ?? [:]
    }

    /// Parses `adapter_config.json`.
    /// - Throws: a message naming the JSON error.
    public static func parse(_ data: Data) throws(AdapterError) -> PEFTConfig {
        do {
            return try JSONDecoder().decode(PEFTConfig.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw AdapterError(.invalidAdapter, "adapter_config.json: field '\(field)' has the wrong type")
        } catch {
            throw AdapterError(.invalidAdapter, "adapter_config.json is not valid JSON")
        }
    }
}
