import COpenBLAS
import Foundation
import RecallTensor
import RecallModel

/// Forward-pass benchmark: all hidden states of `samples` x `tokens` seeded token ids on an HF
/// model directory, best of `runs`; plus the plain sgemm peak of this machine measured in the
/// same run (square 2048 products), so the engine's matmul GFLOP/s can be read as a fraction.
func forwardBenchmark(modelDir: String, samples: Int, tokens: Int, runs: Int) throws -> [String: Any] {
    let model = try LlamaModel(checkpoint: try Checkpoint.open(URL(fileURLWithPath: modelDir)))
    var rng = SplitMix(seed: 5)
    let batch = (0..<samples).map { _ in (0..<tokens).map { _ in Int(rng.next() % UInt64(model.config.vocabSize)) } }
    _ = try model.hiddenStates([Array(batch[0].prefix(8))])  // warm up
    var best = Double.infinity
    var gflops = 0.0
    var matmulSeconds = 0.0
    var phases: [String: Double] = [:]
    for _ in 0..<runs {
        MatmulProfile.reset()
        MatmulProfile.enabled = true
        let t = now()
        _ = try model.hiddenStates(batch, options: ForwardOptions(pooling: .meanExcludingFirst))
        let s = now() - t
        MatmulProfile.enabled = false
        if s < best { best = s; gflops = MatmulProfile.gflops; matmulSeconds = MatmulProfile.seconds; phases = MatmulProfile.phases }
    }
    return ["seconds": best, "tokens_per_second": Double(samples * tokens) / best, "matmul_gflops": gflops,
            "matmul_seconds": matmulSeconds, "phase_seconds": phases,
            "sgemm_peak_gflops": sgemmPeak(), "peak_rss_kib": peakRSSKiB(), "samples": samples, "tokens": tokens]
}

/// Best GFLOP/s of a plain 2048^3 sgemm (all BLAS threads).
func sgemmPeak() -> Double {
    let n = 2048
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    var best = Double.infinity
    for _ in 0..<5 {
        let t = now()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
        best = min(best, now() - t)
    }
    return 2 * Double(n * n * n) / best / 1e9
}
