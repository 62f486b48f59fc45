import Foundation

/// Element-wise steps of the forward pass, on raw buffers.
enum Kernels {
    /// `out[i] = x[i] / sqrt(mean(x²) + eps) · weight[i]` for one row (Hugging Face's RMSNorm,
    /// computed in f32).
    static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int, epsilon: Float) {
        var sum: Float = 0
        for i in 0..<count { sum += x[i] * x[i] }
        let scale = 1 / (sum / Float(count) + epsilon).squareRoot()
        for i in 0..<count { out[i] = x[i] * scale * weight[i] }
    }

    /// Rotate-half RoPE on one head: pairs `(i, i + d/2)` turn by the angle whose cosine and
    /// sine are `cos[i]` and `sin[i]` (`position · θ^(-2i/d)`, computed once per step).
    static func rope(_ head: UnsafeMutablePointer<Float>, half: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        for i in 0..<half {
            let (c, s) = (cos[i], sin[i])
            let (a, b) = (head[i], head[i + half])
            head[i] = a * c - b * s
            head[i + half] = b * c + a * s
        }
    }
}
