import Foundation
import RecallTensor

/// Picks the typical samples of a task: seeded k-means++ on the samples' embeddings, Lloyd
/// iterations until no assignment changes (or a cap), then the real sample nearest each
/// centroid (its medoid). Deterministic for a given seed; an empty cluster is re-seeded with
/// the point farthest from its centroid so exactly K clusters come back.
public struct TypicalSampleSelector: Sendable {
    public var clusters: Int
    public var seed: UInt64
    public var maxIterations: Int

    public init(clusters: Int = 16, seed: UInt64 = 0, maxIterations: Int = 100) {
        self.clusters = clusters
        self.seed = seed
        self.maxIterations = maxIterations
    }

    public struct Selection: Equatable, Sendable {
        /// Index of the chosen sample for each cluster (distinct real samples).
        public let medoids: [Int]
        /// Cluster of every sample.
        public let assignment: [Int]
        /// How many samples each cluster holds (same order as `medoids`).
        public let sizes: [Int]
        public let iterations: Int
    }

    /// Clusters `points` (n vectors of equal length) into min(K, n) clusters.
    public func select(_ points: [[Float]]) throws -> Selection {
        let n = points.count
        guard n > 0 else { throw RecallError(.invalidArgument, "typical samples: no samples to cluster") }
        let d = points[0].count
        guard points.allSatisfy({ $0.count == d }) else { throw RecallError(.invalidArgument, "typical samples: embeddings differ in length") }
        let k = min(clusters, n)
        var rng = SplitMix(seed: seed)

        func dist2(_ a: [Float], _ b: [Float]) -> Float {
            var s: Float = 0
            for i in 0..<d { let t = a[i] - b[i]; s += t * t }
            return s
        }

        // k-means++: first centre uniformly, then proportional to squared distance.
        var centroids: [[Float]] = [points[Int(rng.next() % UInt64(n))]]
        var nearest = points.map { dist2($0, centroids[0]) }
        while centroids.count < k {
            let total = nearest.reduce(0.0) { $0 + Double($1) }
            var pick = 0
            if total > 0 {
                var r = Double(rng.next() >> 11) / Double(1 << 53) * total
                for (i, v) in nearest.enumerated() {
                    r -= Double(v)
                    if r < 0 { pick = i; break }
                    pick = i
                }
            } else {
                pick = centroids.count  // all points coincide: any distinct index
            }
            centroids.append(points[pick])
            for i in 0..<n { nearest[i] = min(nearest[i], dist2(points[i], points[pick])) }
        }

        var assignment = [Int](repeating: -1, count: n)
        var iterations = 0
        while iterations < maxIterations {
            iterations += 1
            var changed = false
            for i in 0..<n {
                var best = 0
                var bestD = Float.infinity
                for c in 0..<k {
                    let v = dist2(points[i], centroids[c])
                    if v < bestD { bestD = v; best = c }
                }
                if assignment[i] != best { assignment[i] = best; changed = true }
            }
            // Re-seed empty clusters with the point farthest from its own centroid.
            var counts = [Int](repeating: 0, count: k)
            for a in assignment { counts[a] += 1 }
            for c in 0..<k where counts[c] == 0 {
                var far = 0
                var farD: Float = -1
                for i in 0..<n where counts[assignment[i]] > 1 {
                    let v = dist2(points[i], centroids[assignment[i]])
                    if v > farD { farD = v; far = i }
                }
                counts[assignment[far]] -= 1
                assignment[far] = c
                counts[c] = 1
                changed = true
            }
            for c in 0..<k {
                var sum = [Float](repeating: 0, count: d)
                for i in 0..<n where assignment[i] == c { for j in 0..<d { sum[j] += points[i][j] } }
                centroids[c] = sum.map { $0 / Float(counts[c]) }
            }
            if !changed { break }
        }

        var medoids: [Int] = []
        var sizes: [Int] = []
        for c in 0..<k {
            var best = -1
            var bestD = Float.infinity
            for i in 0..<n where assignment[i] == c {
                let v = dist2(points[i], centroids[c])
                if v < bestD { bestD = v; best = i }
            }
            medoids.append(best)
            sizes.append(assignment.filter { $0 == c }.count)
        }
        return Selection(medoids: medoids, assignment: assignment, sizes: sizes, iterations: iterations)
    }
}
