import PatchworkCore
import Foundation

/// The forward pass of llama-family decoders (llama, qwen2, qwen3) on CPU.
///
/// Not an actor: one task owns a `Transformer` with the sequences it runs. Each call runs a
/// chunk of tokens of one sequence through every layer with one matrix product per weight, on
/// OpenBLAS or (``ComputeBackend/simd``) portable SIMD loops.
public struct Transformer: Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    /// `θ^(-2i/d)` for `i < d/2`, as Hugging Face computes it in f32.
    let inverseFrequencies: [Float]
    let compute: Compute

    public init(config: ModelConfig, weights: ModelWeights, backend: ComputeBackend = .openBLAS) {
        self.config = config
        self.weights = weights
        compute = Compute(backend: backend)
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
        let qkvDim = qDim + 2 * kvDim
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
            // 3. q, k and v in one product (+ bias for qwen2), then each one's LoRA delta.
            layer.wqkv.withUnsafeBufferPointer { w in
                compute.linear(s.xb, w.baseAddress!, s.qkv, rows: n, in: hidden, out: qkvDim)
            }
            if let bias = layer.bqkv {
                for row in 0..<n { for i in 0..<qkvDim { s.qkv[row * qkvDim + i] += bias[i] } }
            }
            addLoRA(lora?[.q], scale: loraScale, input: s.xb, rows: n, in: hidden, out: s.qkv, outColumns: qDim, outStride: qkvDim, state: s)
            addLoRA(lora?[.k], scale: loraScale, input: s.xb, rows: n, in: hidden, out: s.qkv + qDim, outColumns: kvDim, outStride: qkvDim, state: s)
            addLoRA(lora?[.v], scale: loraScale, input: s.xb, rows: n, in: hidden, out: s.qkv + qDim + kvDim, outColumns: kvDim, outStride: qkvDim, state: s)

            // 4. Per-head RMSNorm of q and k (qwen3), then RoPE at each token's position; the
            //    token's k and v go to the cache at its position.
            let layerKeys = s.keys + l * s.capacity * kvDim, layerValues = s.values + l * s.capacity * kvDim
            for row in 0..<n {
                let position = start + row
                let q = s.qkv + row * qkvDim, k = q + qDim, v = k + kvDim
                for h in 0..<d.heads {
                    let head = q + h * headDim
                    if let norm = layer.queryNorm { norm.withUnsafeBufferPointer { Kernels.rmsNorm(head, weight: $0.baseAddress!, out: head, count: headDim, epsilon: eps) } }
                    Kernels.rope(head, headDim: headDim, position: position, inverseFrequencies: inverseFrequencies)
                }
                for h in 0..<d.kvHeads {
                    let head = k + h * headDim
                    if let norm = layer.keyNorm { norm.withUnsafeBufferPointer { Kernels.rmsNorm(head, weight: $0.baseAddress!, out: head, count: headDim, epsilon: eps) } }
                    Kernels.rope(head, headDim: headDim, position: position, inverseFrequencies: inverseFrequencies)
                }
                (layerKeys + position * kvDim).update(from: k, count: kvDim)
                (layerValues + position * kvDim).update(from: v, count: kvDim)
            }

            // 5. Causal attention over all cached positions; several query heads share one
            //    key/value head (GQA).
            let positions = start + n
            let scale = 1 / Float(headDim).squareRoot()
            let group = d.heads / d.kvHeads
            if n == 1 {
                // Decode: per head, two matrix-vector products over the cached positions.
                for h in 0..<d.heads {
                    let kv = h / group
                    compute.gemv(layerKeys + kv * headDim, rows: positions, columns: headDim, lda: kvDim, x: s.qkv + h * headDim, y: s.scores, alpha: scale)
                    Kernels.softmax(s.scores, count: positions)
                    compute.gemvTransposed(layerValues + kv * headDim, rows: positions, columns: headDim, lda: kvDim, x: s.scores, y: s.attention + h * headDim)
                }
            } else {
                for h in 0..<d.heads {
                    let kv = h / group
                    compute.matmulTransposed(s.qkv + h * headDim, lda: qkvDim, layerKeys + kv * headDim, ldb: kvDim, s.scores, ldc: positions,
                                          m: n, n: positions, k: headDim, alpha: scale)
                    for row in 0..<n {
                        let scores = s.scores + row * positions
                        let visible = start + row + 1
                        Kernels.softmax(scores, count: visible)
                        for j in visible..<positions { scores[j] = 0 }  // causal mask
                    }
                    compute.matmul(s.scores, lda: positions, layerValues + kv * headDim, ldb: kvDim, s.attention + h * headDim, ldc: qDim,
                                m: n, n: headDim, k: positions)
                }
            }

            // 6. Output projection, added to the residual stream: x += Wo · attention.
            layer.wo.withUnsafeBufferPointer { w in
                compute.linear(s.attention, w.baseAddress!, s.x, rows: n, in: qDim, out: hidden, accumulate: true)
            }
            addLoRA(lora?[.o], scale: loraScale, input: s.attention, rows: n, in: qDim, out: s.x, outColumns: hidden, outStride: hidden, state: s)

            // 7. Feed-forward: x += Wdown · (silu(Wgate · xb) ⊙ Wup · xb), xb = RMSNorm(x); gate
            //    and up in one product.
            layer.ffnNorm.withUnsafeBufferPointer { w in
                for row in 0..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + row * hidden, count: hidden, epsilon: eps) }
            }
            layer.wGateUp.withUnsafeBufferPointer { w in
                compute.linear(s.xb, w.baseAddress!, s.gateUp, rows: n, in: hidden, out: 2 * inter)
            }
            addLoRA(lora?[.gate], scale: loraScale, input: s.xb, rows: n, in: hidden, out: s.gateUp, outColumns: inter, outStride: 2 * inter, state: s)
            addLoRA(lora?[.up], scale: loraScale, input: s.xb, rows: n, in: hidden, out: s.gateUp + inter, outColumns: inter, outStride: 2 * inter, state: s)
            for row in 0..<n { Kernels.swiGLU(s.gateUp + row * 2 * inter, s.gateUp + row * 2 * inter + inter, count: inter) }
            layer.wDown.withUnsafeBufferPointer { w in
                compute.linear(s.gateUp, w.baseAddress!, s.x, rows: n, in: inter, out: hidden, xStride: 2 * inter, accumulate: true)
            }
            addLoRA(lora?[.down], scale: loraScale, input: s.gateUp, inStride: 2 * inter, rows: n, in: inter, out: s.x, outColumns: hidden, outStride: hidden, state: s)
        }
        s.length += n

        // 8. Final norm and the output projection for the rows whose logits are wanted.
        guard logitRows > 0 else { return }
        let first = n - logitRows
        weights.finalNorm.withUnsafeBufferPointer { w in
            for row in first..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + (row - first) * hidden, count: hidden, epsilon: eps) }
        }
        (weights.output ?? weights.embedding).withUnsafeBufferPointer { output in
            compute.linear(s.xb, output.baseAddress!, s.logits, rows: logitRows, in: hidden, out: d.vocabulary)
        }
    }

    /// The LoRA delta of one projection, `out += scale · B(A · input)`, in two thin products
    /// through a `[rows, r]` buffer. `out` may be a column range of wider rows (`outStride`).
    private func addLoRA(
        _ pair: LoRAWeights.Pair?, scale: Float, input: UnsafeMutablePointer<Float>, inStride: Int? = nil, rows: Int, in inFeatures: Int,
        out: UnsafeMutablePointer<Float>, outColumns: Int, outStride: Int, state: SequenceState
    ) {
        guard let pair else { return }
        precondition(pair.rank <= state.loraCapacity, "LoRA rank \(pair.rank) exceeds the state's LoRA scratch")
        pair.a.withUnsafeBufferPointer { a in
            compute.linear(input, a.baseAddress!, state.loraScratch, rows: rows, in: inFeatures, out: pair.rank, xStride: inStride)
        }
        pair.b.withUnsafeBufferPointer { b in
            compute.linear(state.loraScratch, b.baseAddress!, out, rows: rows, in: pair.rank, out: outColumns, yStride: outStride, scale: scale, accumulate: true)
        }
    }
}
