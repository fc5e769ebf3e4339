import RecallAPI
import RecallTensor

/// One realistic instance of each reply type, every optional set and every list non-empty, so
/// every property (nested ones too) appears when it is encoded: what the schema checks compare
/// with docs/openapi.yaml.
enum ReplySamples {
    static let versionSummary = VersionSummaryReply(
        version: 3, parent: 2, task: "arith", method: "recall", createdAt: "2025-01-31T12:00:00.000Z", head: true,
        gated: true, gateReason: "sst2 dropped 3.0 points", tags: ["v3-good"], modelID: 7)

    static let versionDetail = VersionDetailReply(
        version: 3, parent: 2, task: "arith", method: "recall", message: "register arith", createdAt: "2025-01-31T12:00:00.000Z",
        head: true, gated: true, gateReason: "sst2 dropped 3.0 points",
        model: .init(id: 7, name: "merged-3", contentHash: "ab12", rawBytes: 4096, storedBytes: 1024, uniqueBytes: 2048),
        inputs: [.init(modelID: 5, name: "arith.safetensors", task: "arith", role: "new", contentHash: "cd34")],
        modelNames: ["5": "arith.safetensors"],
        layerWeights: [.init(layer: 0, weights: ["5": 0.25])],
        similarities: [.init(layer: 0, mean: 0.5, min: 0.25, max: 0.75, sigma: 0.1)],
        typicalSamples: [.init(text: "2 + 2 = 4", clusterSize: 3)],
        details: .object([("lambda", .number(0.5, integer: nil)), ("scenario", .string("experts"))]))

    static let status = StatusReply(
        version: "0.1.0", home: "/var/lib/recall", initialised: true,
        settings: SettingsReply(baseModelID: 1, method: "recall", scenario: "experts", options: ["lambda": "0.5"], gatePoints: 2,
                                evalMetric: "accuracy"),
        head: 3, versions: 3, models: 7, jobs: .init(queued: 1, running: 1, succeeded: 2, failed: 0), runningJob: 4,
        store: .init(chunks: 10, storedBytes: 1024, logicalBytes: 4096, uniqueBytes: 2048))

    static let job = JobReply(
        id: 4, kind: "register", state: "running", phase: "fuse", progress: 0.5, error: "disk full",
        result: .object([("task_model_id", .int(5))]), task: "arith", model: "arith.safetensors",
        createdAt: "2025-01-31T12:00:00.000Z", startedAt: "2025-01-31T12:00:01.000Z", finishedAt: "2025-01-31T12:01:00.000Z",
        etaSeconds: 12.5)

    static let evaluations = EvaluationsReply(
        metric: "accuracy", tasks: ["arith", "sst2"],
        versions: [.init(version: 3, task: "arith", head: true, gated: false, accuracy: ["arith": 0.75, "sst2": 0.5])])

    static let evalReport = EvalReply(version: 3, results: [.init(task: "arith", accuracy: 0.75, accuracyNorm: 0.8, n: 20)])
}
