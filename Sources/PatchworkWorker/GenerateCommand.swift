import ArgumentParser
import Foundation
import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import PatchworkFormats
import PatchworkTokenizer

/// `patchwork-worker generate`: runs one prompt through the engine, for people and for checks.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text from one prompt, with or without a LoRA adapter."
    )

    @Option(help: "The model: a GGUF file or a Hugging Face directory.")
    var model: String

    @Option(name: .customLong("lora"), help: "An adapter to load, NAME=DIRECTORY (a PEFT directory); repeatable.")
    var loras: [String] = []

    @Option(help: "The loaded adapter to generate with (default: the base model).")
    var adapter: String?

    @Option(help: "The prompt text.")
    var prompt: String?

    @Flag(help: "Treat --prompt as a user message and apply the model's chat template.")
    var chat = false

    @Option(name: .customLong("prompt-ids"), help: "The prompt as comma-separated token ids.")
    var promptIDs: String?

    @Option(help: "Tokens to generate at most.")
    var maxTokens = 64

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling threshold.")
    var topP: Float = 1

    @Option(help: "Keep only the K most likely tokens; 0 keeps all.")
    var topK = 0

    @Option(help: "Drop tokens less likely than this fraction of the most likely.")
    var minP: Float = 0

    @Option(help: "Random seed; the same seed gives the same tokens.")
    var seed: UInt64?

    @Option(help: "Report this many alternatives with each token's log-probability.")
    var topLogprobs: Int?

    @Option(help: "Compute threads. Default: the CPUs the process may run on.")
    var threads = Engine.availableCPUs

    @Option(help: "Products of f32 weights on 'openblas' or 'simd' (portable Swift SIMD, one thread); others run on the packed kernels.")
    var compute = "openblas"

    @Option(help: "Quantize the model's f32/f16/bf16 weight matrices at load: q8_0 or q4_0.")
    var quantize: String?

    @Flag(help: "Decode every weight to f32 at load and multiply f32 activations: the file's exact function, for checks (4 bytes per weight, slower).")
    var dequantize = false

    @Option(help: "How the KV cache stores keys and values: auto (f16 for quantized weights, as llama.cpp; f32 otherwise), f32 or f16.")
    var kvCacheDtype = "auto"


    @Flag(help: "Keep generating past end-of-sequence tokens (for benchmarks).")
    var ignoreEOS = false

    @Flag(help: "Print one JSON object (ids, tokens with log-probabilities, text, timings) instead of streaming text.")
    var json = false

    func validate() throws {
        guard (prompt == nil) != (promptIDs == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-ids") }
        guard !chat || prompt != nil else { throw ValidationError("--chat needs --prompt") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard ComputeBackend(rawValue: compute) != nil else { throw ValidationError("--compute takes openblas or simd") }
        _ = try ServeCommand.kvCacheType(kvCacheDtype)
    }

    func run() throws {
        Engine.setThreads(threads)
        let loadStart = ContinuousClock.now
        var model: Model
        do { model = try Model(path: self.model, quantize: try ServeCommand.quantizationTarget(quantize)) } catch let error as ModelFileError { throw ValidationError(error.message) }
        if dequantize { model = model.dequantized() }
        var adapters: [String: ResidentAdapter] = [:]
        for spec in loras {
            guard let equals = spec.firstIndex(of: "=") else { throw ValidationError("--lora takes NAME=DIRECTORY, got '\(spec)'") }
            let name = String(spec[..<equals]), directory = String(spec[spec.index(after: equals)...])
            adapters[name] = try Self.loadAdapter(name: name, directory: directory, model: model)
        }
        let loadSeconds = (ContinuousClock.now - loadStart).seconds
        var selected: ResidentAdapter?
        if let adapter {
            guard let weights = adapters[adapter] else { throw ValidationError("--adapter \(adapter) is not among the --lora adapters") }
            selected = weights
        }

        let ids: [Int]
        if let promptIDs {
            ids = try promptIDs.split(separator: ",").map { part in
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--prompt-ids: '\(part)' is not a number") }
                return id
            }
        } else if chat {
            guard let template = model.chatTemplate else { throw ValidationError("the model has no chat template") }
            do {
                ids = try ChatPrompt(template: try ChatTemplate(template), tokenizer: model.tokenizer).encode([ChatMessage(role: "user", content: prompt!)])
            } catch { throw ValidationError("chat template: \(error)") }
        } else {
            ids = model.tokenizer.encode(prompt!)
        }

        var parameters = SamplingParameters()
        parameters.temperature = temperature
        parameters.topP = topP
        parameters.topK = topK
        parameters.minP = minP
        parameters.seed = seed
        parameters.maxTokens = maxTokens
        parameters.topLogprobs = topLogprobs
        parameters.ignoreEOS = ignoreEOS
        var generator = Generator(
            transformer: Transformer(
                config: model.config, weights: model.weights, backend: ComputeBackend(rawValue: compute)!
            ),
            tokenizer: model.tokenizer
        )
        generator.kvCacheType = try ServeCommand.kvCacheType(kvCacheDtype) ?? model.defaultKVCacheType
        let result: Generator.Result
        do {
            result = try generator.generate(promptIDs: ids, parameters: parameters, adapter: selected) { token in
                if !json {
                    FileHandle.standardOutput.write(Data(token.text.utf8))
                }
                return true
            }
        } catch { throw ValidationError(error.description) }
        if json {
            print(Self.report(result, loadSeconds: loadSeconds, tokenizer: model.tokenizer, weights: model.weights, threads: threads, kvCacheType: generator.kvCacheType))
        } else {
            print()
        }
    }

    static func loadAdapter(name: String, directory: String, model: Model) throws -> ResidentAdapter {
        let loader = AdapterLoader(validator: AdapterValidator(dimensions: model.config.dimensions, maxRank: 1024))
        do {
            let record = try loader.load(
                name: try AdapterName(name), source: try AdapterSource(uri: "file://" + (directory as NSString).standardizingPath.absolutePath), now: 0
            )
            return try record.makeResident(layers: model.config.dimensions.layers)
        } catch let error as AdapterError {
            throw ValidationError("adapter \(name): \(error.message)")
        }
    }

    static func report(_ result: Generator.Result, loadSeconds: Double, tokenizer: Tokenizer, weights: ModelWeights, threads: Int, kvCacheType: KVCacheType) -> String {
        struct Token: Encodable { var id: Int; var text: String; var logprob: Float; var top: [[Double]] }
        struct Report: Encodable {
            var prompt_ids: [Int]
            var tokens: [Token]
            var text: String
            var finish_reason: String
            var timings: [String: Double]
            var peak_rss_mb: Double
            /// Resident bytes of the weights by encoding ("Q4_1", "Q8_0", "F32").
            var weights_bytes: [String: Int]
            var kernels: String
            /// OpenBLAS's kernel family (f32 weights, prefill attention).
            var openblas_core: String
            var threads: Int
            var kv_cache_dtype: String
        }
        let prefill = Double(result.promptIDs.count) / max(result.prefillSeconds, 1e-9)
        let decode = result.tokens.count > 1 ? Double(result.tokens.count - 1) / max(result.decodeSeconds, 1e-9) : 0
        let report = Report(
            prompt_ids: result.promptIDs,
            tokens: result.tokens.map { t in
                Token(id: t.id, text: tokenizer.decode([t.id]), logprob: t.logprob, top: t.top.map { [Double($0.id), Double($0.logprob)] })
            },
            text: result.text, finish_reason: result.finishReason.rawValue,
            timings: ["load_seconds": loadSeconds, "prefill_tokens_per_second": prefill, "decode_tokens_per_second": decode,
                      "prefill_seconds": result.prefillSeconds, "decode_seconds": result.decodeSeconds],
            peak_rss_mb: Engine.peakResidentMegabytes, weights_bytes: weights.residentBytes, kernels: Engine.kernelPath, openblas_core: OpenBLASCore.description, threads: threads,
            kv_cache_dtype: kvCacheType.rawValue
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(report)) ?? Data(), as: UTF8.self)
    }
}

extension String {
    var absolutePath: String {
        hasPrefix("/") ? self : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(self)
    }
}
