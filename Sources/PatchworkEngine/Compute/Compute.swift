import COpenBLAS
import CPatchworkKernels

/// Where the products of f32 weights run. Packed weights (quantized, f16, bf16) always run on
/// the C kernels.
public enum ComputeBackend: String, Sendable, CaseIterable {
    /// OpenBLAS, one thread per slice of output rows on the compute pool (the default).
    case openBLAS = "openblas"
    /// Swift SIMD loops on one thread: portable, for checks and machines without OpenBLAS.
    case simd
}

/// The matrix products of the forward pass, dispatched to a backend and the compute pool.
/// Arguments as in ``BLAS``.
struct Compute: Sendable {
    let backend: ComputeBackend
    let pool: ComputePool

    /// `y[rows, out] (+)= x[rows, in] · wᵀ` for a weight matrix in any encoding. Packed weights
    /// quantize `x` once into `activations` (int8 per 32 values) when their encoding needs it.
    func linear(
        _ x: UnsafePointer<Float>, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>, rows: Int, xStride: Int? = nil, yStride: Int? = nil,
        accumulate: Bool = false, activations: UnsafeMutablePointer<pw_qact>
    ) {
        let (inFeatures, outFeatures) = (w.columns, w.rows)
        if let floats = w.floats {
            floats.withUnsafeBufferPointer { weights in
                linear(x, weights.baseAddress!, y, rows: rows, in: inFeatures, out: outFeatures, xStride: xStride, yStride: yStride, accumulate: accumulate)
            }
            return
        }
        precondition(rows * inFeatures <= Int(activations.pointee.capacity), "\(rows) rows of \(inFeatures) exceed the activation buffer")
        w.segments.withUnsafeBufferPointer { segments in
            pw_linear(pool.raw, segments.baseAddress!, Int32(segments.count), x, Int32(xStride ?? inFeatures), Int32(rows), activations, y,
                      Int32(yStride ?? outFeatures), accumulate ? 1 : 0)
        }
    }

    /// `y[rows, out] (+)= scale · x[rows, in] · w[out, in]ᵀ` for f32 weights. OpenBLAS runs one
    /// slice of output rows per pool thread (it is itself single-threaded: one pool of threads
    /// in the process); small products (LoRA's thin ones) run on the calling thread.
    func linear(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        rows: Int, in inFeatures: Int, out outFeatures: Int, xStride: Int? = nil, yStride: Int? = nil,
        scale: Float = 1, accumulate: Bool = false
    ) {
        switch backend {
        case .openBLAS:
            let slices = rows * inFeatures * outFeatures >= 1 << 18 ? min(pool.threads, max(outFeatures / 16, 1)) : 1
            guard slices > 1 else {
                BLAS.linear(x, w, y, rows: rows, in: inFeatures, out: outFeatures, xStride: xStride, yStride: yStride, scale: scale, accumulate: accumulate)
                return
            }
            let pointers = LinearPointers(x: x, w: w, y: y)
            let (xs, ys) = (xStride ?? inFeatures, yStride ?? outFeatures)
            let size = (outFeatures + slices - 1) / slices
            pool.parallelFor(slices) { slice in
                let first = slice * size, count = min(size, outFeatures - first)
                guard count > 0 else { return }
                BLAS.linear(pointers.x, pointers.w + first * inFeatures, pointers.y + first, rows: rows, in: inFeatures, out: count,
                            xStride: xs, yStride: ys, scale: scale, accumulate: accumulate)
            }
        case .simd:
            let (xs, ys) = (xStride ?? inFeatures, yStride ?? outFeatures)
            for r in 0..<rows {
                for o in 0..<outFeatures {
                    let value = scale * SIMDKernels.dot(x + r * xs, w + o * inFeatures, count: inFeatures)
                    y[r * ys + o] = accumulate ? y[r * ys + o] + value : value
                }
            }
        }
    }

    func matmulTransposed(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
        m: Int, n: Int, k: Int, alpha: Float
    ) {
        switch backend {
        case .openBLAS: BLAS.matmulTransposed(a, lda: lda, b, ldb: ldb, c, ldc: ldc, m: m, n: n, k: k, alpha: alpha)
        case .simd:
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = alpha * SIMDKernels.dot(a + i * lda, b + j * ldb, count: k) } }
        }
    }

    func matmul(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
        m: Int, n: Int, k: Int
    ) {
        switch backend {
        case .openBLAS: BLAS.matmul(a, lda: lda, b, ldb: ldb, c, ldc: ldc, m: m, n: n, k: k)
        case .simd:
            for i in 0..<m {
                let row = c + i * ldc
                row.initialize(repeating: 0, count: n)
                for j in 0..<k where a[i * lda + j] != 0 { SIMDKernels.axpy(a[i * lda + j], b + j * ldb, row, count: n) }
            }
        }
    }
}

/// The operands of a sliced f32 product.
///
/// `@unchecked Sendable`: every slice reads `x` and `w` and writes only its own output columns.
private struct LinearPointers: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let w: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
}

/// Dot products and `y += a·x` over Swift's SIMD types, which lower to the CPU's vector units.
enum SIMDKernels {
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var sum0 = SIMD8<Float>(), sum1 = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= count {
            sum0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            sum1 += ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
            i += 16
        }
        var sum = (sum0 + sum1).sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        let a = SIMD8<Float>(repeating: alpha)
        var i = 0
        while i + 8 <= count {
            let updated = ry.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) + a * rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            ry.storeBytes(of: updated, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            y[i] += alpha * x[i]
            i += 1
        }
    }
}
