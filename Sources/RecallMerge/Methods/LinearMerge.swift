import Foundation

/// Weighted average of all models (mergekit `linear`): sum_i w_i x_i, divided by sum_i w_i when
/// `normalize` (default on).
public struct LinearMerge: MergeMethod {
    public let name = "linear"
    public let needsBase = false
    public let defaultParameters: [String: Double] = ["normalize": 1]
    public let defaultModelParameters: [String: Double?] = ["weight": nil]
    public var elementwise: Bool { true }

    public init() {}

    public func merge(_ context: TensorMergeContext, into out: UnsafeMutableBufferPointer<Float>) throws {
        let weights = context.inputs.map { Float($0.parameters["weight"] ?? 0) }
        var divisor: Float = 1
        if (context.parameters["normalize"] ?? 1) != 0 {
            divisor = weights.reduce(0, +)
        }
        out.initialize(repeating: 0)
        for (i, input) in context.inputs.enumerated() {
            accumulate(input.values, scale: weights[i], into: out)
        }
        if divisor != 1 {
            let inv = divisor
            for k in out.indices { out[k] /= inv }
        }
    }
}

/// out += scale * x, 16 lanes at a time.
@inline(__always)
func accumulate(_ x: UnsafeBufferPointer<Float>, scale: Float, into out: UnsafeMutableBufferPointer<Float>) {
    let n = out.count
    let xs = UnsafeRawPointer(x.baseAddress!), os = UnsafeMutableRawPointer(out.baseAddress!)
    var k = 0
    let s = SIMD16<Float>(repeating: scale)
    while k + 16 <= n {
        let v = os.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self) + xs.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self) * s
        os.storeBytes(of: v, toByteOffset: k * 4, as: SIMD16<Float>.self)
        k += 16
    }
    while k < n { out[k] += x[k] * scale; k += 1 }
}
