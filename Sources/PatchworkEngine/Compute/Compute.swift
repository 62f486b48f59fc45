/// Where the forward pass's matrix products run.
public enum ComputeBackend: String, Sendable, CaseIterable {
    /// OpenBLAS, multi-threaded (the default).
    case openBLAS = "openblas"
    /// Swift SIMD loops on one thread: portable, for checks and machines without OpenBLAS.
    case simd
}

/// The matrix products of the forward pass, dispatched to a backend. Arguments as in ``BLAS``.
struct Compute: Sendable {
    let backend: ComputeBackend

    func linear(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        rows: Int, in inFeatures: Int, out outFeatures: Int, xStride: Int? = nil, yStride: Int? = nil,
        scale: Float = 1, accumulate: Bool = false
    ) {
        switch backend {
        case .openBLAS:
            BLAS.linear(x, w, y, rows: rows, in: inFeatures, out: outFeatures, xStride: xStride, yStride: yStride, scale: scale, accumulate: accumulate)
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

    func gemv(_ a: UnsafePointer<Float>, rows: Int, columns: Int, lda: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, alpha: Float = 1) {
        switch backend {
        case .openBLAS: BLAS.gemv(a, rows: rows, columns: columns, lda: lda, x: x, y: y, alpha: alpha)
        case .simd: for r in 0..<rows { y[r] = alpha * SIMDKernels.dot(a + r * lda, x, count: columns) }
        }
    }

    func gemvTransposed(_ a: UnsafePointer<Float>, rows: Int, columns: Int, lda: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        switch backend {
        case .openBLAS: BLAS.gemvTransposed(a, rows: rows, columns: columns, lda: lda, x: x, y: y)
        case .simd:
            y.initialize(repeating: 0, count: columns)
            for r in 0..<rows { SIMDKernels.axpy(x[r], a + r * lda, y, count: columns) }
        }
    }
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
