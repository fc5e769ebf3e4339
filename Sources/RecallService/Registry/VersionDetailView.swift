import Foundation
import RecallTensor
import RecallStore
import RecallAPI

extension Registry {
    /// `GET /v1/versions/{ref}`: the version, its model and inputs, the per-layer weights and
    /// similarity statistics its merge recorded, and its task's typical samples.
    public func versionDetail(_ ref: String) throws -> VersionDetailReply {
        let number = try provenance.resolve(ref)
        guard let v = try provenance.version(number), let model = try provenance.model(id: v.modelID) else {
            throw RecallError(.notFound, "no version \(ref); see the version history")
        }
        let detail = try provenance.detail(of: number)
        var names: [String: String] = [:]
        var inputs: [VersionDetailReply.Input] = []
        for i in detail.inputs {
            let m = try provenance.model(id: i.modelID)
            names[String(i.modelID)] = m?.name ?? "model \(i.modelID)"
            inputs.append(.init(modelID: i.modelID, name: m?.name ?? "", task: m?.task, role: i.role.rawValue, contentHash: m?.contentHash ?? ""))
        }
        var layers: [Int: [String: Double]] = [:]
        for w in detail.layerWeights { layers[w.layer, default: [:]][String(w.modelID)] = w.weight }
        var simByLayer: [Int: [(value: Double, sigma: Double?)]] = [:]
        for s in detail.similarities { simByLayer[s.layer, default: []].append((s.value, s.sigma)) }
        let similarities = simByLayer.keys.sorted().map { l -> VersionDetailReply.Similarity in
            let values = simByLayer[l]!.map(\.value)
            return .init(layer: l, mean: values.reduce(0, +) / Double(values.count), min: values.min()!, max: values.max()!,
                         sigma: simByLayer[l]!.first?.sigma)
        }
        let typical = try v.task.map { try provenance.typicalSampleRows(task: $0) }?.map {
            VersionDetailReply.TypicalSample(text: $0.text, clusterSize: $0.clusterSize)
        } ?? []
        let details = (try? JSONValue.parse(Data(v.optionsJSON.utf8))) ?? .object([])
        return VersionDetailReply(
            version: v.number, parent: v.parentVersion, task: v.task, method: v.method.rawValue, message: v.message,
            createdAt: v.createdAt, head: try provenance.head() == v.number, gated: v.gated, gateReason: v.gateReason,
            model: .init(id: model.id, name: model.name, contentHash: model.contentHash, rawBytes: model.rawBytes,
                         storedBytes: model.storedBytes, uniqueBytes: model.uniqueBytes),
            inputs: inputs, modelNames: names,
            layerWeights: layers.keys.sorted().map { .init(layer: $0, weights: layers[$0]!) },
            similarities: similarities, typicalSamples: typical, details: details)
    }
}
