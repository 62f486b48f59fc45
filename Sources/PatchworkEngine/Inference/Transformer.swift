import CPatchworkKernels
import PatchworkCore
import Foundation

/// The forward pass of llama-family decoders (llama, qwen2, qwen3, gemma3) on CPU.
///
/// Not an actor: one task owns a `Transformer` with the sequences it runs. Each call runs a
/// chunk of tokens of one sequence through every layer with one matrix product per weight:
/// packed weights (quantized, f16, bf16) on the C kernels, f32 weights on OpenBLAS or
/// (``ComputeBackend/simd``) portable SIMD loops, split across the compute pool's threads.
public struct Transformer: Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    /// `θ^(-2i/d)` for `i < d/2`, as Hugging Face computes it in f32, per distinct RoPE base.
    let inverseFrequencies: [[Float]]
    /// Each layer's index into ``inverseFrequencies``.
    let ropeOfLayer: [Int]
    let compute: Compute

    public init(config: ModelConfig, weights: ModelWeights, backend: ComputeBackend = .openBLAS, pool: ComputePool = .shared) {
        self.config = config
        self.weights = weights
        compute = Compute(backend: backend, pool: pool)
        let d = config.dimensions.headDim
        var thetas: [Float] = []
        ropeOfLayer = (0..<config.dimensions.layers).map { l in
            let theta = config.attention(layer: l).ropeTheta
            if let i = thetas.firstIndex(of: theta) { return i }
            thetas.append(theta)
            return thetas.count - 1
        }
        inverseFrequencies = thetas.map { theta in (0..<d / 2).map { 1 / pow(theta, Float(2 * $0) / Float(d)) } }
    }

    /// Runs `tokens` at the next positions of `state`, appends their keys and values to its
    /// cache and returns the logits: of the last token, or of every token with `allLogits`.
    /// - Precondition: `tokens` fit in the state's capacity; chunks of `maxChunk` run in turn.
    public func forward(_ tokens: [Int], state: SequenceState, adapter: LoRAWeights? = nil, allLogits: Bool = false) -> [Float] {
        precondition(state.length + tokens.count <= state.capacity, "sequence exceeds its KV capacity")
        var result: [Float] = []
        var start = 0
        while start < tokens.count {
            let chunk = Array(tokens[start..<min(start + state.maxChunk, tokens.count)])
            let isLast = start + chunk.count == tokens.count
            let entry = BatchEntry(tokens: chunk, start: state.length, blockTable: state.blockTable, adapter: adapter == nil ? nil : 0, wantsLogits: false)
            let rows = allLogits ? chunk.count : (isLast ? 1 : 0)
            step([entry], adapters: adapter.map { [$0] } ?? [], storage: state.storage, scratch: state.scratch, logitRows: [rows])
            if rows > 0 { result += Array(UnsafeBufferPointer(start: state.scratch.logits, count: rows * config.dimensions.vocabulary)) }
            state.length += chunk.count
            start += chunk.count
        }
        return result
    }

    /// One step over many sequences: every entry's new tokens go through the model together,
    /// one product per weight for all rows; each entry's adapter applies to its own rows;
    /// attention reads each sequence's blocks. Returns the last token's logits of each entry
    /// that wants them (empty for the others).
    /// - Precondition: the entries' tokens fit `scratch.maxTokens`; entries that share an
    ///   adapter are best placed next to each other (one LoRA product per run of them).
    public func forward(batch: [BatchEntry], adapters: [LoRAWeights], storage: PagedKVStorage, scratch: ForwardScratch) -> [[Float]] {
        step(batch, adapters: adapters, storage: storage, scratch: scratch, logitRows: batch.map { $0.wantsLogits ? 1 : 0 })
        let vocabulary = config.dimensions.vocabulary
        var row = 0
        return batch.map { entry in
            guard entry.wantsLogits else { return [] }
            defer { row += 1 }
            return Array(UnsafeBufferPointer(start: scratch.logits + row * vocabulary, count: vocabulary))
        }
    }

    /// The forward pass of one step. `logitRows[i]` is how many of entry i's last rows want
    /// logits; they are written to `scratch.logits` in entry order.
    private func step(_ batch: [BatchEntry], adapters: [LoRAWeights], storage: PagedKVStorage, scratch s: ForwardScratch, logitRows: [Int]) {
        let d = config.dimensions
        let (hidden, inter, qDim, kvDim, headDim) = (d.hidden, d.intermediate, config.qDim, config.kvDim, d.headDim)
        let qkvDim = qDim + 2 * kvDim
        let eps = config.rmsNormEpsilon
        // Row ranges of the entries in the step's matrices.
        var offsets: [Int] = []
        var n = 0
        for entry in batch {
            offsets.append(n)
            n += entry.tokens.count
        }
        precondition(n <= s.maxTokens, "step of \(n) tokens exceeds the scratch's \(s.maxTokens)")
        // Runs of consecutive entries with the same adapter: (adapter, first row, row count).
        var loraRuns: [(adapter: Int, row: Int, rows: Int)] = []
        for (i, entry) in batch.enumerated() {
            guard let a = entry.adapter else { continue }
            if let last = loraRuns.last, last.adapter == a, last.row + last.rows == offsets[i] {
                loraRuns[loraRuns.count - 1].rows += entry.tokens.count
            } else {
                loraRuns.append((a, offsets[i], entry.tokens.count))
            }
        }

        // Each row's RoPE rotation per RoPE base, computed once for every layer and head: cos
        // then sin of position · θ^(-2i/d), i < d/2 (cos and sin are a few dozen cycles each).
        let half = headDim / 2
        let rotationsByBase = inverseFrequencies.map { frequencies in
            var rotations = [Float](repeating: 0, count: n * headDim)
            for (i, entry) in batch.enumerated() {
                for j in 0..<entry.tokens.count {
                    let position = Float(entry.start + j), base = (offsets[i] + j) * headDim
                    for f in 0..<half {
                        let angle = position * frequencies[f]
                        rotations[base + f] = cos(angle)
                        rotations[base + half + f] = sin(angle)
                    }
                }
            }
            return rotations
        }

        // 1. Token embeddings → x[n, hidden], one row dequantized per token (gemma scales them).
        for (i, entry) in batch.enumerated() {
            for (j, token) in entry.tokens.enumerated() { weights.embedding.row(token, into: s.x + (offsets[i] + j) * hidden) }
        }
        if let scale = config.embeddingScale {
            for k in 0..<n * hidden { s.x[k] *= scale }
        }

        // The decoding entries (one new token each), the same in every layer.
        let decoding = DecodingEntries(batch, offsets: offsets)

        for (l, layer) in weights.layers.enumerated() {
            // 2. Attention input: xb = RMSNorm(x).
            layer.attentionNorm.withUnsafeBufferPointer { w in
                for row in 0..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + row * hidden, count: hidden, epsilon: eps) }
            }
            // 3. q, k and v in one product (+ bias for qwen2), then each run's LoRA deltas.
            compute.linear(s.xb, layer.wqkv, s.qkv, rows: n, activations: s.activations)
            if let bias = layer.bqkv {
                for row in 0..<n { for i in 0..<qkvDim { s.qkv[row * qkvDim + i] += bias[i] } }
            }
            for run in loraRuns {
                let lora = adapters[run.adapter]
                let input = s.xb + run.row * hidden, out = s.qkv + run.row * qkvDim
                addLoRA(lora.layers[l][.q], scale: lora.scale, input: input, rows: run.rows, in: hidden, out: out, outColumns: qDim, outStride: qkvDim, scratch: s)
                addLoRA(lora.layers[l][.k], scale: lora.scale, input: input, rows: run.rows, in: hidden, out: out + qDim, outColumns: kvDim, outStride: qkvDim, scratch: s)
                addLoRA(lora.layers[l][.v], scale: lora.scale, input: input, rows: run.rows, in: hidden, out: out + qDim + kvDim, outColumns: kvDim, outStride: qkvDim, scratch: s)
            }

            // 4. Per-head RMSNorm of q and k (qwen3, gemma3), RoPE at each token's position; each
            //    token's k and v go to its sequence's block.
            rotationsByBase[ropeOfLayer[l]].withUnsafeBufferPointer { rotations in
            for (i, entry) in batch.enumerated() {
                for j in 0..<entry.tokens.count {
                    let position = entry.start + j
                    let q = s.qkv + (offsets[i] + j) * qkvDim, k = q + qDim, v = k + kvDim
                    let rotation = rotations.baseAddress! + (offsets[i] + j) * headDim
                    for h in 0..<d.heads {
                        let head = q + h * headDim
                        if let norm = layer.queryNorm { norm.withUnsafeBufferPointer { Kernels.rmsNorm(head, weight: $0.baseAddress!, out: head, count: headDim, epsilon: eps) } }
                        Kernels.rope(head, half: half, cos: rotation, sin: rotation + half)
                    }
                    for h in 0..<d.kvHeads {
                        let head = k + h * headDim
                        if let norm = layer.keyNorm { norm.withUnsafeBufferPointer { Kernels.rmsNorm(head, weight: $0.baseAddress!, out: head, count: headDim, epsilon: eps) } }
                        Kernels.rope(head, half: half, cos: rotation, sin: rotation + half)
                    }
                    storage.store(row: storage.row(layer: l, blockTable: entry.blockTable, position: position), key: k, value: v)
                }
            }
            }

            // 5. Causal attention over each sequence's cached positions.
            attention(batch, decoding: decoding, offsets: offsets, layer: l, storage: storage, scratch: s)

            // 6. Output projection, added to the residual stream: x += Wo · attention (gemma3:
            //    x += RMSNorm(Wo · attention), through xb, free once q, k and v are computed).
            let attentionOut = layer.postAttentionNorm == nil ? s.x : s.xb
            compute.linear(s.attention, layer.wo, attentionOut, rows: n, accumulate: layer.postAttentionNorm == nil, activations: s.activations)
            for run in loraRuns {
                let lora = adapters[run.adapter]
                addLoRA(lora.layers[l][.o], scale: lora.scale, input: s.attention + run.row * qDim, rows: run.rows, in: qDim,
                        out: attentionOut + run.row * hidden, outColumns: hidden, outStride: hidden, scratch: s)
            }
            if let norm = layer.postAttentionNorm { addNormalized(s.xb, weight: norm, to: s.x, rows: n) }

            // 7. Feed-forward: x += Wdown · (silu(Wgate · xb) ⊙ Wup · xb), xb = RMSNorm(x).
            layer.ffnNorm.withUnsafeBufferPointer { w in
                for row in 0..<n { Kernels.rmsNorm(s.x + row * hidden, weight: w.baseAddress!, out: s.xb + row * hidden, count: hidden, epsilon: eps) }
            }
            compute.linear(s.xb, layer.wGateUp, s.gateUp, rows: n, activations: s.activations)
            for run in loraRuns {
                let lora = adapters[run.adapter]
                let input = s.xb + run.row * hidden, out = s.gateUp + run.row * 2 * inter
                addLoRA(lora.layers[l][.gate], scale: lora.scale, input: input, rows: run.rows, in: hidden, out: out, outColumns: inter, outStride: 2 * inter, scratch: s)
                addLoRA(lora.layers[l][.up], scale: lora.scale, input: input, rows: run.rows, in: hidden, out: out + inter, outColumns: inter, outStride: 2 * inter, scratch: s)
            }
            for row in 0..<n {
                let gate = s.gateUp + row * 2 * inter
                switch config.activation {
                case .silu: pw_swiglu(gate, gate + inter, Int32(inter))
                case .geluTanh: pw_geglu_tanh(gate, gate + inter, Int32(inter))
                }
            }
            let mlpOut = layer.postFFNNorm == nil ? s.x : s.xb
            compute.linear(s.gateUp, layer.wDown, mlpOut, rows: n, xStride: 2 * inter, accumulate: layer.postFFNNorm == nil, activations: s.activations)
            for run in loraRuns {
                let lora = adapters[run.adapter]
                addLoRA(lora.layers[l][.down], scale: lora.scale, input: s.gateUp + run.row * 2 * inter, inStride: 2 * inter, rows: run.rows,
                        in: inter, out: mlpOut + run.row * hidden, outColumns: hidden, outStride: hidden, scratch: s)
            }
            if let norm = layer.postFFNNorm { addNormalized(s.xb, weight: norm, to: s.x, rows: n) }
        }

        // 8. Final norm and the output projection for the rows whose logits are wanted.
        var logitRow = 0
        for (i, entry) in batch.enumerated() where logitRows[i] > 0 {
            for j in entry.tokens.count - logitRows[i]..<entry.tokens.count {
                weights.finalNorm.withUnsafeBufferPointer { w in
                    Kernels.rmsNorm(s.x + (offsets[i] + j) * hidden, weight: w.baseAddress!, out: s.xb + logitRow * hidden, count: hidden, epsilon: eps)
                }
                logitRow += 1
            }
        }
        guard logitRow > 0 else { return }
        precondition(logitRow <= s.maxLogitRows, "\(logitRow) logit rows exceed the scratch's \(s.maxLogitRows)")
        compute.linear(s.xb, weights.output ?? weights.embedding, s.logits, rows: logitRow, activations: s.activations)
    }

    /// Attention of every entry's new tokens over its cached positions (GQA: several query
    /// heads share a key/value head). Decoding entries (one token) read their blocks in place
    /// (``decodeAttention(_:layer:attention:storage:scratch:)``); prefilling entries gather their
    /// blocks into contiguous rows and use two matrix products per head.
    private func attention(
        _ batch: [BatchEntry], decoding: DecodingEntries, offsets: [Int], layer l: Int, storage: PagedKVStorage, scratch s: ForwardScratch
    ) {
        let d = config.dimensions
        let (qDim, kvDim, headDim) = (config.qDim, config.kvDim, d.headDim)
        let qkvDim = qDim + 2 * kvDim
        let scale = 1 / Float(headDim).squareRoot()
        let group = d.heads / d.kvHeads
        // Sliding-window layers: a query at position p sees p − window + 1 … p.
        let layerAttention = config.attention(layer: l)

        if !decoding.rows.isEmpty { decodeAttention(decoding, layer: l, attention: layerAttention, storage: storage, scratch: s) }

        for (i, entry) in batch.enumerated() where entry.tokens.count > 1 {
            let n = entry.tokens.count, positions = entry.start + n
            // Gather the sequence's keys and values, block by block, into contiguous rows.
            var p = 0
            while p < positions {
                let count = min(storage.blockSize - p % storage.blockSize, positions - p)
                storage.gather(
                    row: storage.row(layer: l, blockTable: entry.blockTable, position: p), count: count,
                    keys: s.gatheredKeys + p * kvDim, values: s.gatheredValues + p * kvDim
                )
                p += count
            }
            // Per head, chunks of query rows on the pool threads: each chunk multiplies only
            // the positions its last row may see, and writes only its own rows of scores.
            let pointers = PrefillPointers(
                q: s.qkv + offsets[i] * qkvDim, keys: s.gatheredKeys, values: s.gatheredValues, scores: s.scores,
                out: s.attention + offsets[i] * qDim
            )
            let chunks = n * positions >= 16_384 ? min(n, 4 * compute.pool.threads) : 1
            let size = (n + chunks - 1) / chunks, start = entry.start, compute = compute
            for h in 0..<d.heads {
                let kv = h / group
                compute.pool.parallelFor(chunks) { c in
                    let (r0, r1) = (c * size, min(n, (c + 1) * size))
                    guard r0 < r1 else { return }
                    let visible = start + r1
                    let scores = pointers.scores + r0 * positions
                    compute.matmulTransposed(pointers.q + r0 * qkvDim + h * headDim, lda: qkvDim, pointers.keys + kv * headDim, ldb: kvDim,
                                             scores, ldc: positions, m: r1 - r0, n: visible, k: headDim, alpha: scale)
                    for row in r0..<r1 {
                        let rowScores = pointers.scores + row * positions, seen = start + row + 1
                        let first = layerAttention.firstVisible(of: seen)
                        pw_softmax(rowScores + first, Int32(seen - first))
                        for j in 0..<first { rowScores[j] = 0 }  // outside the sliding window
                        for j in seen..<visible { rowScores[j] = 0 }  // causal mask
                    }
                    compute.matmul(scores, lda: positions, pointers.values + kv * headDim, ldb: kvDim, pointers.out + r0 * qDim + h * headDim,
                                   ldc: qDim, m: r1 - r0, n: headDim, k: visible)
                }
            }
        }
    }

    /// Positions per part of a long context in decode attention: a multiple of the block size,
    /// the same for every sequence whatever else runs in its step (so a request's sums do not
    /// depend on its neighbours).
    static let decodePartPositions = 256

    /// Attention of the decoding entries (one new token each), over their blocks in place.
    ///
    /// One item per (sequence, key/value head, part of its positions): the query heads that
    /// share a KV head read each key and value once, and a long context is cut in parts of
    /// ``decodePartPositions`` so that two threads share even one sequence's few KV heads; each
    /// part's output is weighted by its softmax's maximum and sum (flash-decoding).
    private func decodeAttention(
        _ decoding: DecodingEntries, layer l: Int, attention: ModelConfig.LayerAttention, storage: PagedKVStorage, scratch s: ForwardScratch
    ) {
        let d = config.dimensions
        let (qDim, kvDim, headDim, kvHeads) = (config.qDim, config.kvDim, d.headDim, d.kvHeads)
        let qkvDim = qDim + 2 * kvDim, group = d.heads / d.kvHeads, scale = 1 / Float(headDim).squareRoot()
        let (tables, lengths, rows) = (decoding.tables, decoding.lengths, decoding.rows)
        let (blockSize, half, elementBytes) = (storage.blockSize, Int32(storage.type == .f16 ? 1 : 0), storage.type.bytes)
        let part = max(blockSize, Self.decodePartPositions / blockSize * blockSize)
        // Each entry's parts: [first part, last part]; the window's first position may fall inside the first.
        var items: [(entry: Int, kv: Int, part: Int, slot: Int?)] = []
        var partsOfEntry: [Int] = [], slots = 0
        for (e, positions) in lengths.enumerated() {
            let parts = (attention.firstVisible(of: positions) / part)..<((positions + part - 1) / part)
            partsOfEntry.append(parts.count)
            for kv in 0..<kvHeads {
                for p in parts {
                    items.append((e, kv, p, parts.count > 1 ? slots : nil))
                    if parts.count > 1 { slots += 1 }
                }
            }
        }
        // Parts of split contexts write here (outputs and softmax statistics), then merge.
        var partial = [Float](repeating: 0, count: slots * group * headDim)
        var stats = [Float](repeating: 0, count: slots * group * 2)
        partial.withUnsafeMutableBufferPointer { partial in
            stats.withUnsafeMutableBufferPointer { stats in
                let pointers = AttentionPointers(
                    qkv: s.qkv, attention: s.attention, keys: storage.layerKeys(l), values: storage.layerValues(l),
                    partial: partial.baseAddress, stats: stats.baseAddress
                )
                let plan = items
                let attend: @Sendable (Int) -> Void = { i in
                    let item = plan[i]
                    let h = item.kv * group, positions = lengths[item.entry]
                    let start = item.part * part, end = min(positions, start + part)
                    let first = max(0, attention.firstVisible(of: positions) - start)
                    let out = item.slot.map { pointers.partial! + $0 * group * headDim } ?? pointers.attention + rows[item.entry] * qDim + h * headDim
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: group * (end - start)) { scores in
                        tables[item.entry].withUnsafeBufferPointer { table in
                            pw_attend_one(
                                pointers.qkv + rows[item.entry] * qkvDim + h * headDim, Int32(headDim), Int32(group),
                                pointers.keys + item.kv * headDim * elementBytes, pointers.values + item.kv * headDim * elementBytes,
                                Int32(kvDim), half, table.baseAddress! + start / blockSize, Int32(blockSize), Int32(first), Int32(end - start),
                                Int32(headDim), scale, scores.baseAddress!, out, Int32(headDim), item.slot.map { pointers.stats! + $0 * group * 2 }
                            )
                        }
                    }
                }
                // A hand-off to the pool costs a few microseconds: worth it past a few thousand scores.
                if lengths.reduce(0, +) * d.heads >= 2_048 {
                    compute.pool.parallelFor(plan.count, attend)
                } else {
                    for i in plan.indices { attend(i) }
                }
            }
        }
        // Merge split contexts: out = Σ_p w_p · out_p / Σ_p w_p, w_p = sum_p · e^(max_p − max).
        var i = 0
        while i < items.count {
            guard let slot = items[i].slot else {
                i += 1
                continue
            }
            let (e, kv, count) = (items[i].entry, items[i].kv, partsOfEntry[items[i].entry])
            for j in 0..<group {
                var maximum = -Float.infinity
                for p in 0..<count { maximum = max(maximum, stats[((slot + p) * group + j) * 2]) }
                var total: Float = 0
                let out = s.attention + rows[e] * qDim + (kv * group + j) * headDim
                out.initialize(repeating: 0, count: headDim)
                for p in 0..<count {
                    let base = ((slot + p) * group + j) * 2
                    let weight = stats[base + 1] * exp(stats[base] - maximum)
                    total += weight
                    partial.withUnsafeBufferPointer { SIMDKernels.axpy(weight, $0.baseAddress! + ((slot + p) * group + j) * headDim, out, count: headDim) }
                }
                for k in 0..<headDim { out[k] /= total }
            }
            i += count
        }
    }

    /// `x += RMSNorm(y)` row by row (`y` normalised in place): gemma3's post-norms.
    private func addNormalized(_ y: UnsafeMutablePointer<Float>, weight: [Float], to x: UnsafeMutablePointer<Float>, rows: Int) {
        let hidden = config.dimensions.hidden
        weight.withUnsafeBufferPointer { w in
            for row in 0..<rows {
                let yRow = y + row * hidden, xRow = x + row * hidden
                Kernels.rmsNorm(yRow, weight: w.baseAddress!, out: yRow, count: hidden, epsilon: config.rmsNormEpsilon)
                for k in 0..<hidden { xRow[k] += yRow[k] }
            }
        }
    }

    /// The LoRA delta of one projection, `out += scale · B(A · input)`. `out` may be a column
    /// range of wider rows (`outStride`).
    ///
    /// Row by row, each sum in one fixed order (`t = scale · A x` by dot products, then
    /// `out += t_k · B[:, k]` for k in order): a row's delta is the same bits whatever rows share
    /// its step. A BLAS product rounds differently for 1 and for 4 rows, and the next layer's
    /// int8 activations turn such last-bit differences into different roundings: a request
    /// batched with others would not answer as it answers alone.
    private func addLoRA(
        _ pair: LoRAWeights.Pair?, scale: Float, input: UnsafeMutablePointer<Float>, inStride: Int? = nil, rows: Int, in inFeatures: Int,
        out: UnsafeMutablePointer<Float>, outColumns: Int, outStride: Int, scratch: ForwardScratch
    ) {
        guard let pair else { return }
        precondition(pair.rank <= scratch.maxLoRARank, "LoRA rank \(pair.rank) exceeds the scratch's \(scratch.maxLoRARank)")
        let rank = pair.rank, xStride = inStride ?? inFeatures
        pair.a.withUnsafeBufferPointer { a in
            pair.bColumns.withUnsafeBufferPointer { b in
                let pointers = LoRAPointers(input: input, a: a.baseAddress!, b: b.baseAddress!, out: out)
                let apply: @Sendable (Int) -> Void = { row in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: rank) { t in
                        let x = pointers.input + row * xStride, y = pointers.out + row * outStride
                        for k in 0..<rank { t[k] = scale * SIMDKernels.dot(x, pointers.a + k * inFeatures, count: inFeatures) }
                        for k in 0..<rank { SIMDKernels.axpy(t[k], pointers.b + k * outColumns, y, count: outColumns) }
                    }
                }
                // A hand-off to the pool costs a few microseconds: worth it for a prefill's rows.
                if rows * rank * (inFeatures + outColumns) >= 1 << 18 {
                    compute.pool.parallelFor(rows, apply)
                } else {
                    for row in 0..<rows { apply(row) }
                }
            }
        }
    }
}

/// The entries of a step that decode one token: their block tables, context lengths (with the
/// new token) and rows in the step's matrices.
private struct DecodingEntries: Sendable {
    let tables: [[Int]]
    let lengths: [Int]
    let rows: [Int]

    init(_ batch: [BatchEntry], offsets: [Int]) {
        let decoding = batch.indices.filter { batch[$0].tokens.count == 1 }
        tables = decoding.map { batch[$0].blockTable }
        lengths = decoding.map { batch[$0].start + 1 }
        rows = decoding.map { offsets[$0] }
    }
}

/// The buffers of one prefilling sequence's attention, shared by the chunks of query rows.
///
/// `@unchecked Sendable`: every chunk reads q, the gathered keys and values, and writes only its
/// own rows of `scores` and `out`.
private struct PrefillPointers: @unchecked Sendable {
    let q: UnsafeMutablePointer<Float>
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    let scores: UnsafeMutablePointer<Float>
    let out: UnsafeMutablePointer<Float>
}

/// The operands of one LoRA delta, shared by the rows computed in parallel.
///
/// `@unchecked Sendable`: every row reads the adapter and its own input row, and writes only
/// its own output row.
private struct LoRAPointers: @unchecked Sendable {
    let input: UnsafeMutablePointer<Float>
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
}

/// Raw buffers shared by the parallel attention workers.
///
/// `@unchecked Sendable`: each (entry, head, part) item reads the shared K/V and q buffers and
/// writes only its own `headDim` slice of `attention` or of `partial`; the slices do not overlap.
private struct AttentionPointers: @unchecked Sendable {
    let qkv: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// The layer's keys and values, f32 or f16.
    let keys: UnsafeRawPointer
    let values: UnsafeRawPointer
    /// Outputs and softmax statistics of the parts of split contexts.
    let partial: UnsafeMutablePointer<Float>?
    let stats: UnsafeMutablePointer<Float>?
}
