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

    /// Rotate-half RoPE on one head: pairs `(i, i + d/2)` turn by `position · θ^(-2i/d)`.
    static func rope(_ head: UnsafeMutablePointer<Float>, headDim: Int, position: Int, inverseFrequencies: [Float]) {
        let half = headDim / 2
        for i in 0..<half {
            let angle = Float(position) * inverseFrequencies[i]
            let (c, s) = (cos(angle), sin(angle))
            let (a, b) = (head[i], head[i + half])
            head[i] = a * c - b * s
            head[i + half] = b * c + a * s
        }
    }

    /// In-place softmax over `count` values.
    static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for i in 0..<count where x[i] > maximum { maximum = x[i] }
        var sum: Float = 0
        for i in 0..<count {
            x[i] = exp(x[i] - maximum)
            sum += x[i]
        }
        let inverse = 1 / sum
        for i in 0..<count { x[i] *= inverse }
    }

    /// `gate[i] = silu(gate[i]) · up[i]` (SwiGLU).
    static func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + exp(-g)) * up[i]
        }
    }
}
