import Foundation
@testable import PatchworkAdapters
@testable import PatchworkFormats
import PatchworkCore
import Testing

struct AdapterValidatorTests {
    static let smol = ModelDimensions(layers: 30, hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocabulary: 49152)
    let validator = AdapterValidator(dimensions: smol, maxRank: 64)

    func validate(config: Data, tensors: [AdapterFiles.Tensor]) throws -> AdapterValidator.Result {
        let data = AdapterFiles.safetensors(tensors)
        let headerLength = Int(data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try SafetensorsHeader.parse(json: data.subdata(in: 8..<8 + headerLength), dataBytes: data.count - 8 - headerLength, fileName: "t")
        return try validator.validate(config: PEFTConfig.parse(config), header: header)
    }

    @Test func acceptsAllSevenModulesAndComputesTheScale() throws {
        let modules = AdapterValidator.supportedModules
        let result = try validate(
            config: AdapterFiles.config(r: 4, alpha: 8, modules: modules),
            tensors: modules.flatMap { AdapterFiles.pair(0, $0, r: 4) + AdapterFiles.pair(29, $0, r: 4) }
        )
        #expect(result.rank == 4 && result.scale == 2 && result.layers == [0, 29])
        #expect(result.targetModules == modules.sorted())
    }

    @Test func rsLoRAScalesBySquareRoot() throws {
        let result = try validate(
            config: AdapterFiles.config(r: 16, alpha: 32, modules: ["q_proj"], extra: ["use_rslora": true]),
            tensors: AdapterFiles.pair(3, "q_proj", r: 16)
        )
        #expect(result.scale == 8)
    }

    @Test func acceptsATargetModulesRegex() throws {
        let result = try validate(
            config: AdapterFiles.config(extra: ["target_modules": ".*\\.(q_proj|v_proj)"]),
            tensors: AdapterFiles.pair(0, "q_proj", r: 8) + AdapterFiles.pair(0, "v_proj", r: 8)
        )
        #expect(result.targetModules == ["q_proj", "v_proj"])
    }

    /// Each broken adapter names each of its problems, all in one error.
    @Test(arguments: [
        (AdapterFiles.config(r: 128), AdapterFiles.pair(0, "q_proj", r: 128) + AdapterFiles.pair(0, "v_proj", r: 128),
         ["adapter rank 128 exceeds --max-lora-rank 64"]),
        (AdapterFiles.config(), AdapterFiles.pair(0, "q_proj", r: 4) + AdapterFiles.pair(0, "v_proj", r: 8),
         ["has shape [4, 576], expected [8, 576]", "has shape [576, 4], expected [576, 8]"]),
        (AdapterFiles.config(), [AdapterFiles.Tensor(name: AdapterFiles.key(0, "q_proj", "A"), shape: [8, 576])] + AdapterFiles.pair(0, "v_proj", r: 8),
         ["layer 0 q_proj has lora_A without lora_B"]),
        (AdapterFiles.config(), AdapterFiles.pair(30, "q_proj", r: 8) + AdapterFiles.pair(0, "v_proj", r: 8),
         ["names layer 30 but the model has 30"]),
        (AdapterFiles.config(extra: ["use_dora": true, "bias": "all", "modules_to_save": ["lm_head"]]),
         AdapterFiles.pair(0, "q_proj", r: 8) + AdapterFiles.pair(0, "v_proj", r: 8),
         ["DoRA (use_dora)", "modules_to_save [\"lm_head\"]", "bias 'all'"]),
        (AdapterFiles.config(modules: ["q_proj", "embed_tokens"]),
         AdapterFiles.pair(0, "q_proj", r: 8) + [AdapterFiles.Tensor(name: "base_model.model.model.embed_tokens.lora_embedding_A", shape: [8, 49152])],
         ["unexpected tensor 'base_model.model.model.embed_tokens.lora_embedding_A'", "target module 'embed_tokens'"]),
        (AdapterFiles.config(extra: ["peft_type": "IA3"]), AdapterFiles.pair(0, "q_proj", r: 8) + AdapterFiles.pair(0, "v_proj", r: 8),
         ["peft_type is IA3, not LORA"]),
        (AdapterFiles.config(), AdapterFiles.pair(0, "q_proj", r: 8),
         ["target_modules lists [\"v_proj\"] but the weights have none"]),
        (AdapterFiles.config(r: 0), [], ["rank r = 0 must be positive", "holds no tensors"]),
    ])
    func reportsEveryProblem(config: Data, tensors: [AdapterFiles.Tensor], problems: [String]) {
        #expect {
            _ = try validate(config: config, tensors: tensors)
        } throws: { error in
            guard let error = error as? AdapterError, error.kind == .invalidAdapter else { return false }
            return problems.allSatisfy { error.message.contains($0) }
        }
    }

    @Test func refusesConfigsThatAreNotJSONOrHaveWrongTypes() {
        #expect { try PEFTConfig.parse(Data("{nope".utf8)) } throws: { "\($0)".contains("not valid JSON") }
        #expect { try PEFTConfig.parse(Data(#"{"r": "eight"}"#.utf8)) } throws: { "\($0)".contains("'r' has the wrong type") }
    }
}

struct SafetensorsHeaderTests {
    func parse(_ json: String, dataBytes: Int) throws -> SafetensorsHeader {
        try SafetensorsHeader.parse(json: Data(json.utf8), dataBytes: dataBytes, fileName: "w.safetensors")
    }

    @Test func readsAValidHeader() throws {
        let header = try parse(#"{"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"__metadata__":{"format":"pt"}}"#, dataBytes: 12)
        #expect(header.tensors == [.init(name: "a", dtype: .bf16, shape: [2, 3], dataRange: 0..<12)])
    }

    @Test(arguments: [
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, 16, "holds 16 bytes but F32 [2] needs 8"),
        (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8, "outside the 8 data bytes"),
        (#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, 8, "dtype I64"),
        (#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#, 6, "overlap"),
        (#"{"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,4]}}"#, 4, "invalid shape"),
        (#"{"a":{"dtype":"F16"}}"#, 4, "lacks dtype, shape or data_offsets"),
        (#"[1,2]"#, 4, "not a JSON object"),
    ])
    func refusesBrokenHeaders(json: String, dataBytes: Int, problem: String) {
        #expect { _ = try parse(json, dataBytes: dataBytes) } throws: { "\($0)".contains(problem) }
    }

    @Test func refusesAHeaderLengthBeyondTheFile() throws {
        let path = try AdapterFiles.write(config: AdapterFiles.config(), tensors: []) + "/adapter_model.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0])
        try data.write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsHeader.read(path: path) } throws: { "\($0)".contains("exceeds the file") }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsHeader.read(path: path) } throws: { "\($0)".contains("too short") }
    }
}
