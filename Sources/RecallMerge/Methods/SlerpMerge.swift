import Foundation
import RecallTensor

/// Spherical interpolation between the base and one other model (mergekit `slerp`), over the
/// flattened tensor: directions are normalised, the angle comes from their dot product, and
/// nearly colinear tensors (|dot| > 0.9995) fall back to linear interpolation.
public struct SlerpMerge: MergeMethod {
    public let name = "slerp"
    public let needsBase = true
    public let defaultParameters: [String: Double] = [:]
    public let defaultModelParameters: [String: Double?] = [:]

    public init() {}

    public func merge(_ context: TensorMergeContext, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard let t = context.parameters["t"] else {
            throw RecallError(.invalidArgument, "slerp needs the parameter t")
        }
        guard let v0 = context.base, context.inputs.count <= 1 else {
            throw RecallError(.invalidArgument, "slerp merges exactly two models: a base and one other")
        }
        guard let v1 = context.inputs.first?.values else {
            _ = out.initialize(from: v0)
            return
        }
        let eps = 1e-8
        var n0 = 0.0, n1 = 0.0
        for k in 0..<v0.count { n0 += Double(v0[k]) * Double(v0[k]); n1 += Double(v1[k]) * Double(v1[k]) }
        n0 = n0.squareRoot(); n1 = n1.squareRoot()
        let i0 = n0 > eps ? 1 / n0 : 1, i1 = n1 > eps ? 1 / n1 : 1
        var dot = 0.0
        for k in 0..<v0.count { dot += (Double(v0[k]) * i0) * (Double(v1[k]) * i1) }
        let s0: Float, s1: Float
        if abs(dot) > 0.9995 {
            s0 = Float(1 - t); s1 = Float(t)
        } else {
            let theta0 = acos(dot)
            let sinTheta0 = sin(theta0)
            let thetaT = theta0 * t
            s0 = Float(sin(theta0 - thetaT) / sinTheta0)
            s1 = Float(sin(thetaT) / sinTheta0)
        }
        for k in 0..<out.count { out[k] = s0 * v0[k] + s1 * v1[k] }
    }
}
