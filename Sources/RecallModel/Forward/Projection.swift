import Foundation
import RecallTensor

/// A projection's weights for one step: converted to F32 (`[out x in]`, for sgemm over many
/// rows) or the stored tensors themselves (stacked along the output, for a few rows).
enum Projection {
    case f32(UnsafePointer<Float>)
    case stored([TensorView])

    /// `y (+)= x · Wᵀ`.
    func apply(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, inDim: Int, outDim: Int,
               into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false) {
        switch self {
        case .f32(let w):
            Matmul.linear(x, ldx: ldx, rows: rows, inDim: inDim, weight: w, outDim: outDim, into: y, ldy: ldy, accumulate: accumulate)
        case .stored(let ws):
            Matmul.linearDirect(x, ldx: ldx, rows: rows, inDim: inDim, weights: ws, into: y, ldy: ldy, accumulate: accumulate)
        }
    }

    /// Rows up to which the direct product beats converting the weights for sgemm.
    static let directRows = 8
}

/// Converts `view` to F32 at a fresh arena slot.
func arenaCopy(_ view: TensorView, _ arena: WeightArena) throws -> UnsafeMutablePointer<Float> {
    let p = arena.take(view.elementCount)
    try view.copyFloat32(into: UnsafeMutableBufferPointer(start: p, count: view.elementCount))
    return p
}
