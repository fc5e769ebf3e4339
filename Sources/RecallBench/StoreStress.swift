import Foundation
import RecallTensor
import RecallStore
import RecallMerge

/// An in-memory checkpoint for the stress loop.
final class StressSource: TensorSource, @unchecked Sendable {
    let tensors: [TensorView]
    init(_ tensors: [TensorView]) { self.tensors = tensors }
    var infos: [TensorInfo] { tensors.map(\.info) }
    var metadata: [(String, String)] { [] }
    func tensor(named name: String) throws -> TensorView { tensors.first { $0.name == name }! }
}

/// Puts models that share most tensors with earlier ones (so dedup, gc and new chunks all
/// happen), commits a version for each, and prints an acknowledgement only after the commit.
/// Every fifth round removes an older unreferenced manifest and runs gc.
func storeStress(home: URL, seed: UInt64, rounds: Int) throws {
    let store = try RegistryStore(home: home, initialMapSize: 1 << 22)
    var rng = SplitMix(seed: seed)
    let shared = (0..<4).map { i in
        TensorView(name: "model.layers.\(i).mlp.up_proj.weight", shape: [64, 256],
                   float32: (0..<(64 * 256)).map { _ in Float.random(in: -1...1, using: &rng) }, as: .bf16)
    }
    var parent = try store.provenance.head()
    for round in 0..<rounds {
        var tensors = shared
        // One fresh tensor per round, sized to span several chunks.
        tensors[Int.random(in: 0..<4, using: &rng)] = TensorView(
            name: "model.layers.\(round % 4).mlp.up_proj.weight", shape: [64, 256],
            float32: (0..<(64 * 256)).map { _ in Float.random(in: -1...1, using: &rng) }, as: .bf16)
        tensors.append(TensorView(name: "round", dtype: .i64, shape: [1], copying: withUnsafeBytes(of: Int64(round) ^ Int64(bitPattern: seed)) { Array($0) }))
        let (model, _, _) = try store.putModel(StressSource(tensors), kind: .task, name: "stress-\(round)", task: "t\(round % 3)",
                                                sourcePath: nil, format: .memory, architecture: "")
        let version = try store.provenance.commitVersion(modelID: model.id, parent: parent, task: model.task,
                                                         method: MergeMethodName(rawValue: "linear")!)  // stands for a merge; the store only counts rows
        parent = version.number
        print("ACK \(version.number) \(model.contentHash)")
        fflush(stdout)
        if round % 5 == 4 {
            // Leave a manifest no record knows (as a register killed after its blobs would), then collect.
            let orphan = StressSource([TensorView(name: "orphan", shape: [512], float32: (0..<512).map { _ in Float.random(in: -1...1, using: &rng) })])
            _ = try store.blobs.put(orphan)
            _ = try store.gc()
        }
    }
}
