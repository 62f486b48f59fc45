import Foundation
import PatchworkCore
@testable import PatchworkEngine
import PatchworkTesting
import Testing

/// Decode attention over a long context, in parts merged by their softmax statistics
/// (flash-decoding), against the prefill path, which attends over all positions in one
/// product: the last token's logits agree, with and without a sliding window.
struct DecodeAttentionTests {
    static let model = Result { try Model(path: TestPaths.fixtures.appendingPathComponent("models/tiny-llama").path) }

    /// The last token's logits, run as one prefill or as a prefill then one decoded token.
    static func lastLogits(_ transformer: Transformer, _ tokens: [Int], decodeLast: Bool) -> [Float] {
        let state = SequenceState(config: transformer.config, capacity: tokens.count, maxChunk: tokens.count)
        guard decodeLast else { return transformer.forward(tokens, state: state) }
        _ = transformer.forward(Array(tokens.dropLast()), state: state)
        return transformer.forward([tokens.last!], state: state)
    }

    @Test(arguments: [nil, 300] as [Int?])
    func aContextSplitInPartsAttendsAsOneProduct(window: Int?) throws {
        let model = try Self.model.get()
        var config = model.config
        config.contextLength = 2048
        if let window { config.layerAttention = (0..<config.dimensions.layers).map { _ in .init(window: window, ropeTheta: config.ropeTheta) } }
        let transformer = Transformer(config: config, weights: model.weights)
        var generator = SplitMix64(seed: 3)
        // 700 positions: three parts of 256 (the window, when set, starts inside the second).
        let tokens = (0..<700).map { _ in Int(generator.next() % UInt64(config.dimensions.vocabulary)) }
        #expect(700 > 2 * Transformer.decodePartPositions)
        let decoded = Self.lastLogits(transformer, tokens, decodeLast: true)
        let prefilled = Self.lastLogits(transformer, tokens, decodeLast: false)
        let worst = zip(decoded, prefilled).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4, "worst |Δ logit| \(worst)")
        // The window matters at this length (else the test would not test it).
        if window != nil {
            var unwindowed = model.config
            unwindowed.contextLength = 2048
            let full = Self.lastLogits(Transformer(config: unwindowed, weights: model.weights), tokens, decodeLast: true)
            #expect(zip(full, decoded).map { abs($0 - $1) }.max()! > 1e-3)
        }
    }
}

