import Foundation
import PatchworkCore
import PatchworkFormats

/// What a model file says about the model: architecture, shape, context and chat template.
/// Read from a GGUF file or a Hugging Face directory (`config.json`, `tokenizer_config.json`).
public struct ModelDescription: Sendable, Equatable {
    /// Architectures the engine runs.
    public static let supportedArchitectures = ModelConfig.Architecture.allCases.map(\.rawValue)

    public var architecture: String
    public var name: String?
    public var contextLength: Int
    public var dimensions: ModelDimensions
    public var chatTemplate: String?

    /// Reads `path`: a `.gguf` file or a directory holding `config.json`.
    public init(path: String) throws(ModelFileError) { self = try Self.read(path: path).description }

    /// Reads `path` and, for a GGUF file, hands back the parsed file: a loader takes the
    /// tensors and the tokenizer from it too, rather than parsing the file again (a large
    /// vocabulary is most of the parse).
    public static func read(path: String) throws(ModelFileError) -> (description: ModelDescription, gguf: GGUFFile?) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError("model path \(path) does not exist")
        }
        let description: ModelDescription, gguf: GGUFFile?
        if isDirectory.boolValue {
            description = try ModelDescription(huggingFaceDirectory: path)
            gguf = nil
        } else {
            let file = try GGUFFile(path: path)
            description = try ModelDescription(gguf: file)
            gguf = file
        }
        guard supportedArchitectures.contains(description.architecture) else {
            throw ModelFileError(
                "model architecture '\(description.architecture)' is not supported (supported: \(supportedArchitectures.joined(separator: ", ")))"
            )
        }
        return (description, gguf)
    }

    public init(gguf: GGUFFile) throws(ModelFileError) {
        let m = gguf.metadata
        guard let arch = m["general.architecture"]?.stringValue else { throw ModelFileError("GGUF metadata lacks general.architecture") }
        func int(_ key: String) throws(ModelFileError) -> Int {
            guard let v = m["\(arch).\(key)"]?.intValue else { throw ModelFileError("GGUF metadata lacks \(arch).\(key)") }
            return v
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let vocabulary = m["\(arch).vocab_size"]?.intValue ?? m["tokenizer.ggml.tokens"]?.arrayValue?.count ?? 0
        architecture = arch
        name = m["general.name"]?.stringValue
        contextLength = try int("context_length")
        dimensions = ModelDimensions(
            layers: try int("block_count"), hidden: hidden, intermediate: try int("feed_forward_length"), heads: heads,
            kvHeads: m["\(arch).attention.head_count_kv"]?.intValue ?? heads,
            headDim: m["\(arch).attention.key_length"]?.intValue ?? hidden / max(heads, 1),
            vocabulary: vocabulary
        )
        chatTemplate = m["tokenizer.chat_template"]?.stringValue
    }

    public init(huggingFaceDirectory path: String) throws(ModelFileError) {
        struct Config: Decodable {
            var model_type: String?
            var architectures: [String]?
            var hidden_size: Int
            var intermediate_size: Int
            var num_hidden_layers: Int
            var num_attention_heads: Int
            var num_key_value_heads: Int?
            var head_dim: Int?
            var vocab_size: Int
            var max_position_embeddings: Int?
            var _name_or_path: String?
        }
        struct TokenizerConfig: Decodable { var chat_template: String? }
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else { throw ModelFileError("\(path) has no config.json") }
        let config: Config
        do { config = try JSONDecoder().decode(Config.self, from: data) } catch {
            throw ModelFileError("\(configPath): \(error)")
        }
        guard let arch = config.model_type else { throw ModelFileError("\(configPath) lacks model_type") }
        architecture = arch
        name = config._name_or_path
        contextLength = config.max_position_embeddings ?? 2048
        dimensions = ModelDimensions(
            layers: config.num_hidden_layers, hidden: config.hidden_size, intermediate: config.intermediate_size,
            heads: config.num_attention_heads, kvHeads: config.num_key_value_heads ?? config.num_attention_heads,
            headDim: config.head_dim ?? config.hidden_size / max(config.num_attention_heads, 1), vocabulary: config.vocab_size
        )
        // transformers 5 writes the template to chat_template.jinja; earlier versions into tokenizer_config.json.
        let templateFile = (path as NSString).appendingPathComponent("chat_template.jinja")
        let tokenizerConfig = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("tokenizer_config.json"))
        chatTemplate = (try? String(contentsOfFile: templateFile, encoding: .utf8))
            ?? tokenizerConfig.flatMap { try? JSONDecoder().decode(TokenizerConfig.self, from: $0) }?.chat_template
    }
}
