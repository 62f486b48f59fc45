import PatchworkCore
import Foundation

/// The forward pass of llama-family decoders (llama, qwen2, qwen3) on CPU.
///
/// Not an actor: one task owns a `Transformer` with the sequences it runs. Each call runs a
/// chunk of tokens of one sequence through every layer with one matrix product per weight.
public struct Transformer: Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    /// `θ^(-2i/d)` for `i < d/2`, as Hugging Face computes it in f32.
    let inverseFrequencies: [Float]

    public init(config: ModelConfig, weights: ModelWeights) {
        self.config = config
        self.weights = weights
        let d = config.dimensions.headDim
        inverseFrequencies = (0..<d / 2).map { 1 / pow(config.ropeTheta, Float(2 * $0) / Float(d)) }
    }

    /// Runs `tokens` at the next positions of `state`, appends their keys and values to its
    /// cache and returns the logits: of the last token, or of every token with `allLogits`.
    /// - Precondition: `tokens` fit in the state's capacity; each chunk is cut to `maxChunk`.
    public func forward(_ tokens: [Int], state: SequenceState, adapter: LoRAWeights? = nil, allLogits: Bool = false) -> [Float] {
        precondition(state.length + tokens.count <= state.capacity, "sequence exceeds its KV capacity")
        var result: [Float] = []
        var start = 0
        while start < tokens.count {
            let chunk = Array(tokens[start..<min(start + state.maxChunk, tokens.count)])
            let isLast = start + chunk.count == tokens.count
            let rows = allLogits ? chunk.count : (isLast ? 1 : 0)
            forwardChunk(chunk, state: state, adapter: adapter, logitRows: rows)
            if rows > 0 { result += Array(UnsafeBufferPointer(start: state.logits, count: rows * config.dimensions.vocabulary)) }
            start += chunk.count
        }
        return result
    }

    /// One chunk of `n` tokens; leaves the logits of the last `logitRows` tokens in `state.logits`.
    private func forwardChunk(_ tokens: [Int], state s: SequenceState, adapter: LoRAWeights?, logitRows: Int) {
        let d = config.dimensions
        let (n, hidden, inter, qDim, kvDim, headDim) = (tokens.count, d.hidden, d.intermediate, config.qDim, config.kvDim, d.headDim)
        let start = s.length
        let eps = config.rmsNormEpsilon

        // 1. Token embeddings → x[n, hidden].
        weights.embedding.withUnsafeBufferPointer { embedding in
            for (row, token) in tokens.enumerated() {
                (s.x + row * hidden).update(from: embedding.baseAddress! + token * hidden, count: hidden)
            }
        }

        for (l, layer) in weights.layers.enumerated() {
            let lora = adapter?.layers[l]
            let loraScale = adapter?.scale ?? 0
            // 2. Attention input: xb = RMSNorm(x).
            layer.attentionNorm.withUnsafeBufferPointer { w in
                for row in 0..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + row * hidden, count: hidden, epsilon: eps) }
            }
            // 3. Projections q, k, v (+ bias for qwen2, + LoRA deltas).
            project(s.xb, layer.wq, bias: layer.bq, into: s.q, rows: n, in: hidden, out: qDim, lora: lora?[.q], loraScale: loraScale, state: s)
            project(s.xb, layer.wk, bias: layer.bk, into: s.k, rows: n, in: hidden, out: kvDim, lora: lora?[.k], loraScale: loraScale, state: s)
            project(s.xb, layer.wv, bias: layer.bv, into: s.v, rows: n, in: hidden, out: kvDim, lora: lora?[.v], loraScale: loraScale, state: s)

            // 4. Per-head RMSNorm of q and k (qwen3), then RoPE at each token's position.
            for row in 0..<n {
                let position = start + row
                for h in 0..<d.heads {
                    let head = s.q + row * qDim + h * headDim
                    if let norm = layer.queryNorm { norm.withUnsafeBufferPointer { Kernels.rmsNorm(head, weight: $0.baseAddress!, out: head, count: headDim, epsilon: eps) } }
                    Kernels.rope(head, headDim: headDim, position: position, inverseFrequencies: inverseFrequencies)
                }
                for h in 0..<d.kvHeads {
                    let head = s.k + row * kvDim + h * headDim
                    if let norm = layer.keyNorm { norm.withUnsafeBufferPointer { Kernels.rmsNorm(head, weight: $0.baseAddress!, out: head, count: headDim, epsilon: eps) } }
                    Kernels.rope(head, headDim: headDim, position: position, inverseFrequencies: inverseFrequencies)
                }
            }

            // 5. Append k, v to the cache at positions start ..< start + n.
            let layerKeys = s.keys + l * s.capacity * kvDim, layerValues = s.values + l * s.capacity * kvDim
            (layerKeys + start * kvDim).update(from: s.k, count: n * kvDim)
            (layerValues + start * kvDim).update(from: s.v, count: n * kvDim)

            // 6. Causal attention per query head over all cached positions (GQA: several query
            //    heads share one key/value head).
            let positions = start + n
            let scale = 1 / Float(headDim).squareRoot()
            let group = d.heads / d.kvHeads
            for h in 0..<d.heads {
                let kv = h / group
                let query = s.q + h * headDim, keys = layerKeys + kv * headDim, values = layerValues + kv * headDim
                if n == 1 {
                    // Decode: two matrix-vector products over the cached positions.
                    BLAS.gemv(keys, rows: positions, columns: headDim, lda: kvDim, x: query, y: s.scores, alpha: scale)
                    Kernels.softmax(s.scores, count: positions)
                    BLAS.gemvTransposed(values, rows: positions, columns: headDim, lda: kvDim, x: s.scores, y: s.attention + h * headDim)
                    continue
                }
                BLAS.matmulTransposed(query, lda: qDim, keys, ldb: kvDim, s.scores, ldc: positions, m: n, n: positions, k: headDim, alpha: scale)
                for row in 0..<n {
                    let scores = s.scores + row * positions
                    let visible = start + row + 1
                    Kernels.softmax(scores, count: visible)
                    for j in visible..<positions { scores[j] = 0 }  // causal mask
                }
                BLAS.matmul(s.scores, lda: positions, values, ldb: kvDim, s.attention + h * headDim, ldc: qDim, m: n, n: headDim, k: positions)
            }

            // 7. Output projection, added to the residual stream: x += Wo · attention.
            project(s.attention, layer.wo, bias: nil, into: s.x, rows: n, in: qDim, out: hidden, lora: lora?[.o], loraScale: loraScale, state: s, accumulate: true)

            // 8. Feed-forward: x += Wdown · (silu(Wgate · xb) ⊙ Wup · xb), xb = RMSNorm(x).
            layer.ffnNorm.withUnsafeBufferPointer { w in
                for row in 0..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + row * hidden, count: hidden, epsilon: eps) }
            }
            project(s.xb, layer.wGate, bias: nil, into: s.gate, rows: n, in: hidden, out: inter, lora: lora?[.gate], loraScale: loraScale, state: s)
            project(s.xb, layer.wUp, bias: nil, into: s.up, rows: n, in: hidden, out: inter, lora: lora?[.up], loraScale: loraScale, state: s)
            Kernels.swiGLU(s.gate, s.up, count: n * inter)
            project(s.gate, layer.wDown, bias: nil, into: s.x, rows: n, in: inter, out: hidden, lora: lora?[.down], loraScale: loraScale, state: s, accumulate: true)
        }
        s.length += n

        // 9. Final norm and the output projection for the rows whose logits are wanted.
        guard logitRows > 0 else { return }
        let first = n - logitRows
        weights.finalNorm.withUnsafeBufferPointer { w in
            for row in first..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + (row - first) * hidden, count: hidden, epsilon: eps) }
        }
        (weights.output ?? weights.embedding).withUnsafeBufferPointer { output in
            BLAS.linear(s.xb, output.baseAddress!, s.logits, rows: logitRows, in: hidden, out: d.vocabulary)
        }
    }

    /// `out (+)= input · Wᵀ + bias + scale · (input · Aᵀ) · Bᵀ`: a linear layer with its LoRA delta.
    private func project(
        _ input: UnsafeMutablePointer<Float>, _ weight: [Float], bias: [Float]?, into out: UnsafeMutablePointer<Float>,
        rows: Int, in inFeatures: Int, out outFeatures: Int, lora: LoRAWeights.Pair?, loraScale: Float = 0, state: SequenceState,
        accumulate: Bool = false
    ) {
        weight.withUnsafeBufferPointer { w in
            BLAS.linear(input, w.baseAddress!, out, rows: rows, in: inFeatures, out: outFeatures, accumulate: accumulate)
        }
        if let bias {
            for row in 0..<rows { for i in 0..<outFeatures { out[row * outFeatures + i] += bias[i] } }
        }
        if let lora {
            // The LoRA delta, y += scale · B(A x), in two thin products through a [rows, r] buffer.
            precondition(lora.rank <= state.loraCapacity, "LoRA rank \(lora.rank) exceeds the state's LoRA scratch")
            lora.a.withUnsafeBufferPointer { a in
                BLAS.linear(input, a.baseAddress!, state.loraScratch, rows: rows, in: inFeatures, out: lora.rank)
            }
            lora.b.withUnsafeBufferPointer { b in
                BLAS.linear(state.loraScratch, b.baseAddress!, out, rows: rows, in: lora.rank, out: outFeatures, scale: loraScale, accumulate: true)
            }
        }
    }
}
