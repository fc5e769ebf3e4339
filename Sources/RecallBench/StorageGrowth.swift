import Foundation
import RecallTensor
import RecallMerge
import RecallStore

/// Storage growth of a registry: a base, then 5 task models that each change the q/v projections
/// of every layer by a seeded rank-8 update (what a LoRA fine-tune does), each followed by a merged
/// version (task arithmetic over the tasks so far). Reports the bytes each step adds to the store.
func storageGrowth(basePath: String, home: URL) throws -> [[String: Any]] {
    try? FileManager.default.removeItem(at: home)
    let store = try RegistryStore(home: home)
    let base = try Checkpoint.open(URL(fileURLWithPath: basePath))
    var rows: [[String: Any]] = []
    func record(_ label: String, _ stats: PutStats) throws {
        let total = try store.blobs.chunkStatistics()
        rows.append(["step": label, "raw_bytes": stats.rawBytes, "added_bytes": stats.storedBytes,
                     "new_chunks": stats.newChunks, "deduplicated_chunks": stats.deduplicatedChunks, "store_bytes": total.storedBytes])
        print("\(label): +\(stats.storedBytes / 1_000_000) MB (store \(total.storedBytes / 1_000_000) MB)")
    }
    let baseModel = try store.putModel(base.weights, kind: .base, name: "base", task: nil, sourcePath: basePath, format: .file, architecture: "")
    try record("base", baseModel.stats)

    var rng = SplitMix(seed: 99)
    var tasks: [MergeModel] = []
    for t in 0..<5 {
        var tensors: [TensorView] = []
        for info in base.weights.infos {
            let view = try base.weights.tensor(named: info.name)
            guard info.name.hasSuffix("q_proj.weight") || info.name.hasSuffix("v_proj.weight") else { tensors.append(view); continue }
            let (rows_, cols) = (info.shape[0], info.shape[1])
            var w = try view.toFloat32()
            let r = 8
            let a = (0..<(r * cols)).map { _ in Float.random(in: -0.02...0.02, using: &rng) }
            let b = (0..<(rows_ * r)).map { _ in Float.random(in: -0.02...0.02, using: &rng) }
            for i in 0..<rows_ { for k in 0..<r { let bik = b[i * r + k]; for j in 0..<cols { w[i * cols + j] += bik * a[k * cols + j] } } }
            tensors.append(TensorView(name: info.name, shape: info.shape, float32: w, as: info.dtype))
        }
        let source = StressSource(tensors)
        let put = try store.putModel(source, kind: .task, name: "task\(t)", task: "task\(t)", sourcePath: nil, format: .memory, architecture: "")
        try record("task \(t + 1)", put.stats)
        tasks.append(MergeModel(name: "task\(t)", source: source, parameters: ["weight": .scalar(1)]))
        let merged = try MergedCheckpoint(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic,
                                                             base: MergeModel(name: "base", source: base.weights), models: tasks,
                                                             parameters: ["lambda": .scalar(1.0 / Double(tasks.count))]))
        // Materialise the lazy merge once so the store reads each tensor a single time.
        let materialised = StressSource(try merged.infos.map { try merged.tensor(named: $0.name) })
        let m = try store.putModel(materialised, kind: .merged, name: "v\(t + 1)", task: nil, sourcePath: nil, format: .merged, architecture: "")
        try record("merge \(t + 1)", m.stats)
    }
    return rows
}
