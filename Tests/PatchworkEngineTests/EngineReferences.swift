import Foundation
import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import PatchworkTesting

/// What Hugging Face computed (Tests/Fixtures/make_engine_references.py), and helpers to compare.
enum EngineReferences {
    struct Step: Decodable {
        var token: Int
        var logprob: Float
        var margin: Float
        var top: [[Double]]
    }

    static func json<T: Decodable>(_ name: String, as type: T.Type) throws -> T { try TestPaths.reference(name, as: type) }

    /// Loads and validates a PEFT adapter the way a worker does, then reads its weights.
    static func adapter(_ directory: URL, model: Model) throws -> LoRAWeights {
        let loader = AdapterLoader(validator: AdapterValidator(dimensions: model.config.dimensions, maxRank: 64))
        let record = try loader.load(name: try AdapterName(directory.lastPathComponent), source: try AdapterSource(uri: "file://" + directory.path), now: 0)
        return try LoRAWeights.load(
            weightsPath: directory.appendingPathComponent(AdapterLoader.weightsFile).path, layers: model.config.dimensions.layers,
            rank: record.validated.rank, scale: Float(record.validated.scale)
        )
    }

    /// Runs the prompt, then feeds the reference tokens one by one (teacher forcing), and
    /// returns the worst |Δ logprob| over each step's chosen token and top 5, plus the greedy
    /// mismatches at steps whose top-2 margin exceeds 1e-3.
    static func compare(
        model: Model, promptIDs: [Int], steps: [Step], adapter: LoRAWeights?, backend: ComputeBackend = .openBLAS
    ) -> (worst: Float, mismatches: [Int]) {
        compare(transformer: Transformer(config: model.config, weights: model.weights, backend: backend), promptIDs: promptIDs, steps: steps, adapter: adapter)
    }

    static func compare(transformer: Transformer, promptIDs: [Int], steps: [Step], adapter: LoRAWeights?) -> (worst: Float, mismatches: [Int]) {
        let state = SequenceState(config: transformer.config, capacity: promptIDs.count + steps.count, maxLoRARank: max(adapter?.rank ?? 1, 1))
        var logits = transformer.forward(promptIDs, state: state, adapter: adapter)
        var worst: Float = 0, mismatches: [Int] = []
        for (i, step) in steps.enumerated() {
            let logprobs = Sampler.logSoftmax(logits)
            worst = max(worst, abs(logprobs[step.token] - step.logprob))
            for pair in step.top { worst = max(worst, abs(logprobs[Int(pair[0])] - Float(pair[1]))) }
            let best = logprobs.indices.max { logprobs[$0] < logprobs[$1] }!
            if step.margin > 1e-3 && best != step.token { mismatches.append(i) }
            logits = transformer.forward([step.token], state: state, adapter: adapter)
        }
        return (worst, mismatches)
    }
}
