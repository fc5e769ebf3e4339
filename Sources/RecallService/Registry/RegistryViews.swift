import Foundation
import RecallTensor
import RecallStore

/// The JSON the API returns for history, a version, status: built here, next to the store, so
/// the daemon's routes stay thin and the shapes are tested once.
extension Registry {
    public func historyJSON() throws -> JSONValue {
        let head = try provenance.head()
        let tags = try provenance.tags()
        return .array(try provenance.versions().map { v in
            let task = v.task.map { JSONValue.string($0) } ?? .null
            return .object([
                ("version", .int(v.number)), ("parent", v.parentVersion.map { .int($0) } ?? .null), ("task", task),
                ("method", .string(v.method.rawValue)), ("created_at", .string(v.createdAt)), ("head", .bool(v.number == head)),
                ("gated", .bool(v.gated)), ("gate_reason", v.gateReason.map { .string($0) } ?? .null),
                ("tags", .array(tags.filter { $0.version == v.number }.map { .string($0.name) })),
                ("model_id", .int(v.modelID)),
            ])
        })
    }

    public func versionJSON(_ ref: String) throws -> JSONValue {
        let number = try provenance.resolve(ref)
        guard let v = try provenance.version(number), let model = try provenance.model(id: v.modelID) else {
            throw RecallError(.notFound, "no version \(ref); see the version history")
        }
        let detail = try provenance.detail(of: number)
        var names: [Int: String] = [:]
        var inputs: [JSONValue] = []
        for i in detail.inputs {
            let m = try provenance.model(id: i.modelID)
            names[i.modelID] = m?.name ?? "model \(i.modelID)"
            inputs.append(.object([("model_id", .int(i.modelID)), ("name", .string(m?.name ?? "")),
                                   ("task", m?.task.map { .string($0) } ?? .null), ("role", .string(i.role.rawValue)),
                                   ("content_hash", .string(m?.contentHash ?? ""))]))
        }
        var layers: [Int: [(String, JSONValue)]] = [:]
        for w in detail.layerWeights { layers[w.layer, default: []].append((String(w.modelID), .number(w.weight, integer: nil))) }
        let weights: [JSONValue] = layers.keys.sorted().map { .object([("layer", .int($0)), ("weights", .object(layers[$0]!))]) }
        var simByLayer: [Int: [(value: Double, sigma: Double?)]] = [:]
        for s in detail.similarities { simByLayer[s.layer, default: []].append((s.value, s.sigma)) }
        let similarities: [JSONValue] = simByLayer.keys.sorted().map { l in
            let values = simByLayer[l]!.map(\.value)
            return .object([("layer", .int(l)), ("mean", .number(values.reduce(0, +) / Double(values.count), integer: nil)),
                            ("min", .number(values.min()!, integer: nil)), ("max", .number(values.max()!, integer: nil)),
                            ("sigma", simByLayer[l]!.first?.sigma.map { .number($0, integer: nil) } ?? .null)])
        }
        let typical: [JSONValue] = try v.task.map { try provenance.typicalSampleRows(task: $0) }?.map {
            .object([("text", .string($0.text)), ("cluster_size", .int($0.clusterSize))])
        } ?? []
        let options = (try? JSONValue.parse(Data(v.optionsJSON.utf8))) ?? .object([])
        return .object([
            ("version", .int(v.number)), ("parent", v.parentVersion.map { .int($0) } ?? .null),
            ("task", v.task.map { .string($0) } ?? .null), ("method", .string(v.method.rawValue)), ("message", .string(v.message)),
            ("created_at", .string(v.createdAt)), ("head", .bool(try provenance.head() == v.number)),
            ("gated", .bool(v.gated)), ("gate_reason", v.gateReason.map { .string($0) } ?? .null),
            ("model", .object([("id", .int(model.id)), ("name", .string(model.name)), ("content_hash", .string(model.contentHash)),
                               ("raw_bytes", .int(model.rawBytes)), ("stored_bytes", .int(model.storedBytes)),
                               ("unique_bytes", model.uniqueBytes.map { .int($0) } ?? .null)])),
            ("inputs", .array(inputs)), ("model_names", .object(names.keys.sorted().map { (String($0), .string(names[$0]!)) })),
            ("layer_weights", .array(weights)), ("similarities", .array(similarities)),
            ("typical_samples", .array(typical)), ("details", options),
        ])
    }

    public func statusJSON() throws -> JSONValue {
        let settings = try provenance.settings()
        let counts = try provenance.jobCounts()
        let chunks = try store.blobs.chunkStatistics()
        let totals = try provenance.totals()
        let running = runningJob
        return .object([
            ("version", .string(RecallVersion.string)), ("home", .string(store.home.path)),
            ("initialised", .bool(settings != nil)), ("settings", settings?.json ?? .null),
            ("head", try provenance.head().map { .int($0) } ?? .null),
            ("versions", .int(totals.versions)), ("models", .int(totals.models)),
            ("jobs", .object(([.queued, .running, .succeeded, .failed] as [JobRecord.State]).map { ($0.rawValue, .int(counts[$0] ?? 0)) })),
            ("running_job", running.map { .int($0.id) } ?? .null),
            ("store", .object([("chunks", .int(chunks.count)), ("stored_bytes", .int(chunks.storedBytes)),
                               ("logical_bytes", .int(totals.modelRawBytes)),
                               // Null when a model was stored before its unique bytes were recorded (the sum would lie).
                               ("unique_bytes", totals.modelUniqueBytes.map { .int($0) } ?? .null)])),
        ])
    }

    /// A job with its ETA (seconds, from the time it has run and the fraction done).
    /// A job as the API shows it; `hidingPaths` (TCP clients) names the model by its file name
    /// only, and error messages keep no path of the daemon's machine.
    public func jobJSON(_ job: JobRecord, hidingPaths: Bool = false) -> JSONValue {
        var members = job.json.objectValue ?? []
        if hidingPaths {
            members = members.map { key, value in
                switch key {
                case "model": return (key, value.stringValue.map { .string(URL(fileURLWithPath: $0).lastPathComponent) } ?? value)
                case "error": return (key, value.stringValue.map { .string($0.replacingOccurrences(of: store.home.path, with: "$RECALL_HOME")) } ?? value)
                default: return (key, value)
                }
            }
        }
        members.append(("eta_seconds", eta(job.id, progress: job.progress)))
        return .object(members)
    }

    /// `job` as `jobJSON` shows it, moved on by a later `change` (its state, phase and progress):
    /// what a watcher that read the row once shows as the job runs.
    public func jobJSON(_ job: JobRecord, after change: JobProgress, hidingPaths: Bool = false) -> JSONValue {
        let members = (jobJSON(job, hidingPaths: hidingPaths).objectValue ?? []).map { key, value -> (String, JSONValue) in
            switch key {
            case "state": return (key, .string(change.state.rawValue))
            case "phase": return (key, change.phase.map { .string($0) } ?? .null)
            case "progress": return (key, .number(change.progress, integer: nil))
            case "eta_seconds": return (key, eta(job.id, progress: change.progress))
            default: return (key, value)
            }
        }
        return .object(members)
    }

    /// Seconds left for the running job at `progress`, from how long it has run; null otherwise.
    private func eta(_ id: Int, progress: Double) -> JSONValue {
        guard let r = runningJob, r.id == id, progress > 0.02 else { return .null }
        let elapsed = Date().timeIntervalSince(r.started)
        return .number((elapsed / progress * (1 - progress) * 10).rounded() / 10, integer: nil)
    }
}
