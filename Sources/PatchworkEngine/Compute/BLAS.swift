import COpenBLAS

/// The matrix products of the forward pass, on OpenBLAS. One token uses `sgemv` (on this CPU
/// `sgemm` with one row is 3–4× slower); several tokens use one `sgemm` per weight.
enum BLAS {
    /// Sets the threads OpenBLAS uses for each call.
    static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(count)) }

    /// `y[rows, out] (+)= scale · x[rows, in] · w[out, in]ᵀ`, all row-major.
    /// - Parameters:
    ///   - xStride: elements between rows of `x` (default `in`): a view into wider rows.
    ///   - yStride: elements between rows of `y` (default `out`).
    ///   - accumulate: add to `y` instead of overwriting it.
    static func linear(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        rows: Int, in inFeatures: Int, out outFeatures: Int, xStride: Int? = nil, yStride: Int? = nil,
        scale: Float = 1, accumulate: Bool = false
    ) {
        let beta: Float = accumulate ? 1 : 0
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), scale, w, Int32(inFeatures), x, 1, beta, y, 1)
        } else {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
                scale, x, Int32(xStride ?? inFeatures), w, Int32(inFeatures), beta, y, Int32(yStride ?? outFeatures)
            )
        }
    }

    /// `c[m, n] = alpha · a[m, k] · b[n, k]ᵀ` with leading dimensions (strided views of heads).
    static func matmulTransposed(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
        m: Int, n: Int, k: Int, alpha: Float
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }

    /// `c[m, n] = a[m, k] · b[k, n]` with leading dimensions.
    static func matmul(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
        m: Int, n: Int, k: Int
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }
}
