import Foundation
import RecallTensor

/// Pooled representations of every candidate model on every probe sample at every layer:
/// `values[model][sample][layer]` is a vector (layer 0 = embedding output).
public struct Representations: Sendable {
    public let values: [[[[Float]]]]
    public init(_ values: [[[[Float]]]]) { self.values = values }
    public var modelCount: Int { values.count }
    public var sampleCount: Int { values.first?.count ?? 0 }
    public var layerCount: Int { values.first?.first?.count ?? 0 }
}

/// Per-layer similarity between models from their representations of the same samples.
///
/// RBF (default): s_ij^l = mean over samples x of exp(-||r_i^l(x) - r_j^l(x)||^2 / (2 sigma_l^2)),
/// with sigma_l by default the median distance between different models' representations of the
/// same sample at that layer (so the kernel adapts to each layer's scale, which grows with depth).
/// Linear CKA and RBF CKA compare the models' sample-by-sample Gram structure instead (how
/// each model arranges the probe samples relative to each other), which is blind to a model
/// shifting or rotating all of its representations at a layer.
/// RBF CKA (Kornblith et al. 2019): each model's Gram matrix is exp(-||r(x) - r(y)||^2 / (2 sigma^2))
/// over pairs of samples, sigma the median distance between that model's samples at the layer
/// (`fixed` overrides it), then centred and compared like the linear one.
public struct LayerSimilarity: Sendable {
    public enum Sigma: Equatable, Sendable {
        /// Median distance between different models on the same sample (default).
        case crossModelMedian
        /// Median distance between different samples within each model.
        case withinModelMedian
        case fixed(Double)
    }

    public enum Kernel: String, Sendable, CaseIterable { case rbf, linearCKA = "linear-cka", rbfCKA = "rbf-cka" }

    public var sigma: Sigma
    public var kernel: Kernel

    public init(sigma: Sigma = .crossModelMedian, kernel: Kernel = .rbf) {
        self.sigma = sigma
        self.kernel = kernel
    }

    public struct Result: Sendable {
        /// `matrices[layer][i][j]`, symmetric, 1 on the diagonal.
        public let matrices: [[[Double]]]
        /// The sigma used at each layer (nil for linear CKA; for RBF CKA the median of the
        /// models' own sigmas).
        public let sigmas: [Double?]
    }

    public func compute(_ reps: Representations) throws -> Result {
        let m = reps.modelCount, n = reps.sampleCount, layers = reps.layerCount
        guard m >= 1, n >= 1, layers >= 1 else { throw RecallError(.invalidArgument, "similarity needs at least one model, sample and layer") }
        var matrices: [[[Double]]] = []
        var sigmas: [Double?] = []
        for l in 0..<layers {
            switch kernel {
            case .rbf:
                let s = try sigma(at: l, reps)
                var matrix = [[Double]](repeating: [Double](repeating: 1, count: m), count: m)
                for i in 0..<m {
                    for j in (i + 1)..<max(i + 1, m) {
                        var total = 0.0
                        for x in 0..<n {
                            total += exp(-squaredDistance(reps.values[i][x][l], reps.values[j][x][l]) / (2 * s * s))
                        }
                        matrix[i][j] = total / Double(n)
                        matrix[j][i] = matrix[i][j]
                    }
                }
                matrices.append(matrix)
                sigmas.append(s)
            case .linearCKA, .rbfCKA:
                var matrix = [[Double]](repeating: [Double](repeating: 1, count: m), count: m)
                let grams: [[[Double]]]
                if kernel == .linearCKA {
                    grams = (0..<m).map { centeredGram(reps.values[$0].map { $0[l] }) }
                    sigmas.append(nil)
                } else {
                    let rbf = try (0..<m).map { try rbfGram(reps.values[$0].map { $0[l] }) }
                    grams = rbf.map { centered($0.gram) }
                    sigmas.append(rbf.map(\.sigma).sorted()[m / 2])
                }
                for i in 0..<m {
                    for j in (i + 1)..<max(i + 1, m) {
                        let hsic = frobenius(grams[i], grams[j])
                        let norm = (frobenius(grams[i], grams[i]) * frobenius(grams[j], grams[j])).squareRoot()
                        matrix[i][j] = norm > 0 ? hsic / norm : 1
                        matrix[j][i] = matrix[i][j]
                    }
                }
                matrices.append(matrix)
            }
        }
        return Result(matrices: matrices, sigmas: sigmas)
    }

    /// A model's RBF Gram matrix over its samples at one layer, and the sigma it used.
    func rbfGram(_ rows: [[Float]]) throws -> (gram: [[Double]], sigma: Double) {
        let n = rows.count
        var d2 = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        var distances: [Double] = []
        for a in 0..<n { for b in (a + 1)..<max(a + 1, n) {
            d2[a][b] = squaredDistance(rows[a], rows[b]); d2[b][a] = d2[a][b]
            distances.append(d2[a][b].squareRoot())
        } }
        let s: Double
        if case let .fixed(v) = sigma {
            guard v > 0 else { throw RecallError(.invalidArgument, "sigma must be positive") }
            s = v
        } else {
            let median = distances.isEmpty ? 0 : distances.sorted()[distances.count / 2]
            s = median > 0 ? median : 1
        }
        return (d2.map { $0.map { exp(-$0 / (2 * s * s)) } }, s)
    }

    func sigma(at l: Int, _ reps: Representations) throws -> Double {
        var distances: [Double] = []
        switch sigma {
        case let .fixed(v):
            guard v > 0 else { throw RecallError(.invalidArgument, "sigma must be positive") }
            return v
        case .crossModelMedian:
            for x in 0..<reps.sampleCount {
                for i in 0..<reps.modelCount { for j in (i + 1)..<max(i + 1, reps.modelCount) {
                    distances.append(squaredDistance(reps.values[i][x][l], reps.values[j][x][l]).squareRoot())
                } }
            }
        case .withinModelMedian:
            for i in 0..<reps.modelCount {
                for x in 0..<reps.sampleCount { for y in (x + 1)..<max(x + 1, reps.sampleCount) {
                    distances.append(squaredDistance(reps.values[i][x][l], reps.values[i][y][l]).squareRoot())
                } }
            }
        }
        let median = distances.isEmpty ? 0 : distances.sorted()[distances.count / 2]
        // Identical inputs give a zero median: any positive sigma then yields similarity 1.
        return median > 0 ? median : 1
    }
}

func squaredDistance(_ a: [Float], _ b: [Float]) -> Double {
    var s = 0.0
    for i in a.indices { let t = Double(a[i]) - Double(b[i]); s += t * t }
    return s
}

/// H K H with K the linear Gram matrix of the rows (samples).
func centeredGram(_ rows: [[Float]]) -> [[Double]] {
    let n = rows.count
    var k = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for a in 0..<n { for b in a..<n {
        var s = 0.0
        for t in rows[a].indices { s += Double(rows[a][t]) * Double(rows[b][t]) }
        k[a][b] = s; k[b][a] = s
    } }
    return centered(k)
}

/// H K H, H = I - 11^T/n: removes row and column means.
func centered(_ gram: [[Double]]) -> [[Double]] {
    var k = gram
    let n = k.count
    let rowMean = k.map { $0.reduce(0, +) / Double(n) }
    let total = rowMean.reduce(0, +) / Double(n)
    for a in 0..<n { for b in 0..<n { k[a][b] = k[a][b] - rowMean[a] - rowMean[b] + total } }
    return k
}

func frobenius(_ a: [[Double]], _ b: [[Double]]) -> Double {
    var s = 0.0
    for i in a.indices { for j in a[i].indices { s += a[i][j] * b[i][j] } }
    return s
}
