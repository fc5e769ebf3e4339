import XCTest
@testable import RecallTensor
@testable import RecallStore
import RecallMerge
import RecallTestSupport

final class ProvenanceStoreTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTempDirectory(self) }

    func hash(_ n: Int) -> String { String(repeating: String(n % 10), count: 64) }

    func testEmbeddedMigrationsMatchTheSQLFiles() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertEqual(files.count, EmbeddedMigrations.all.count, "run tools/embed-migrations.sh")
        for (file, m) in zip(files, EmbeddedMigrations.all) {
            XCTAssertEqual(file, String(format: "%03d_%@.sql", m.version, m.name))
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            XCTAssertEqual(text.trimmingCharacters(in: .newlines), m.sql.trimmingCharacters(in: .newlines), "\(file) differs; run tools/embed-migrations.sh")
        }
    }

    func testMigratesEmptyAndEveryEarlierVersion() throws {
        for start in 0..<Migrator.latestVersion {
            let path = dir.appendingPathComponent("db\(start).sqlite")
            if start > 0 { _ = try ProvenanceStore(path: path, migrateUpTo: start) }
            let store = try ProvenanceStore(path: path)
            XCTAssertEqual(try Migrator.appliedVersion(store.db), Migrator.latestVersion)
            let applied = try store.db.query("SELECT version FROM schema_migrations ORDER BY version").compactMap { $0["version"].int }
            XCTAssertEqual(applied, Array(1...Migrator.latestVersion))
            let indexes = try store.db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'versions_by_model'")
            XCTAssertEqual(indexes.count, 1)
        }
    }

    func testRefusesADatabaseFromANewerRelease() throws {
        let path = dir.appendingPathComponent("new.sqlite")
        let store = try ProvenanceStore(path: path)
        try store.db.query("INSERT INTO schema_migrations(version, name) VALUES (?, 'future')", [.of(Migrator.latestVersion + 1)])
        assertRecallError([path.path, "newer than this binary", "upgrade"]) { _ = try ProvenanceStore(path: path) }
    }

    /// A damaged row is an error naming table, row and column, never a default that hides it
    /// (a job with an unknown state used to read as `failed`, a model's missing size as 0).
    func testDamagedRowsThrowNamingTableRowAndColumn() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("d.sqlite"))
        let job = try store.enqueueJob(kind: .register, payload: .object([("task", .string("t"))]))
        XCTAssertEqual(try store.job(job.id)?.state, .queued)
        try store.db.query("PRAGMA ignore_check_constraints = ON")
        try store.db.query("UPDATE jobs SET state = 'exploded' WHERE id = ?", [.of(job.id)])
        assertRecallError(["registry.sqlite", "jobs id \(job.id)", "'exploded'", "`state`", "verify it and restore"]) { _ = try store.job(job.id) }
        assertRecallError(["jobs id \(job.id)"]) { _ = try store.jobs() }
        try store.db.query("UPDATE jobs SET state = 'queued', payload_json = '{not json' WHERE id = ?", [.of(job.id)])
        assertRecallError(["jobs id \(job.id)", "`payload_json`"]) { _ = try store.job(job.id) }

        let (model, _) = try store.insertModel(kind: .base, name: "base", task: nil, sourcePath: nil, format: .directory,
                                               contentHash: hash(3), architecture: "llama", parentID: nil, rawBytes: 10, storedBytes: 5)
        try store.db.query("UPDATE models SET raw_bytes = 'ten' WHERE id = ?", [.of(model.id)])
        assertRecallError(["models id \(model.id)", "`raw_bytes`"]) { _ = try store.model(id: model.id) }
        try store.db.query("UPDATE models SET raw_bytes = 10, kind = 'ghost' WHERE id = ?", [.of(model.id)])
        assertRecallError(["models id \(model.id)", "'ghost'", "`kind`"]) { _ = try store.models() }
    }

    /// A damaged settings table is reported naming the key; it used to read as "not initialised"
    /// (nil), which would have let a second init write over the registry's choices.
    func testDamagedSettingsThrowNamingTheKeyInsteadOfReadingAsUninitialised() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("s.sqlite"))
        XCTAssertNil(try store.settings(), "no rows: not initialised")
        for (key, value) in [("base_model_id", "1"), ("method", "regmean"), ("scenario", "experts"),
                             ("options", "{\"alpha\":\"0.9\"}"), ("gate_points", "2.5")] {
            try store.db.query("INSERT INTO settings(key, value) VALUES (?, ?)", [.text(key), .text(value)])
        }
        let read = try XCTUnwrap(try store.settings())
        XCTAssertEqual(read.options, ["alpha": "0.9"])
        XCTAssertEqual(read.gatePoints, 2.5)
        XCTAssertEqual(read.evalMetric, .accuracy, "homes from before the metric setting used accuracy")
        for (key, value, fragment) in [("scenario", "sideways", "`scenario` is not one of experts, sequential"),
                                       ("gate_points", "lots", "`gate_points` is not a number"),
                                       ("options", "[1]", "`options` is not a JSON object"),
                                       ("base_model_id", "one", "`base_model_id` is not an integer")] {
            let old = try XCTUnwrap(try store.db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]).first?["value"].text)
            try store.db.query("UPDATE settings SET value = ? WHERE key = ?", [.text(value), .text(key)])
            assertRecallError(["registry.sqlite", fragment, "restore"]) { _ = try store.settings() }
            try store.db.query("UPDATE settings SET value = ? WHERE key = ?", [.text(old), .text(key)])
        }
        try store.db.query("DELETE FROM settings WHERE key = 'method'")
        assertRecallError(["settings `method` is missing"]) { _ = try store.settings() }
    }

    /// A model format, merge method or eval metric no code knows is damage naming its column (or
    /// settings key), never a string passed on to code that compares it.
    func testUnknownFormatMethodAndMetricInRowsThrowNamingTheColumn() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("e.sqlite"))
        let (model, _) = try store.insertModel(kind: .base, name: "base", task: nil, sourcePath: nil, format: .gguf,
                                               contentHash: hash(4), architecture: "llama", parentID: nil, rawBytes: 10, storedBytes: 5)
        XCTAssertEqual(try store.model(id: model.id)?.format, .gguf)
        try store.db.query("PRAGMA ignore_check_constraints = ON")
        try store.db.query("UPDATE models SET format = 'onnx' WHERE id = ?", [.of(model.id)])
        assertRecallError(["registry.sqlite", "models id \(model.id)", "'onnx'", "`format`"]) { _ = try store.model(id: model.id) }
        try store.db.query("UPDATE models SET format = 'directory' WHERE id = ?", [.of(model.id)])

        let v1 = try store.initialize(RegistrySettings(baseModelID: model.id, method: .regmean, scenario: .experts, options: [:],
                                                       evalMetric: .accuracyNorm))
        XCTAssertEqual(v1.method, .base)
        XCTAssertEqual(try store.settings()?.evalMetric, .accuracyNorm)
        try store.db.query("UPDATE versions SET method = 'averaging' WHERE number = 1")
        assertRecallError(["versions number 1", "'averaging'", "`method`"]) { _ = try store.versions() }

        for (key, value, fragment) in [("method", "averaging", "settings `method` is not a known merge method"),
                                       ("eval_metric", "f1", "settings `eval_metric` is not one of accuracy, accuracy_norm")] {
            let old = try XCTUnwrap(try store.db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]).first?["value"].text)
            try store.db.query("UPDATE settings SET value = ? WHERE key = ?", [.text(value), .text(key)])
            assertRecallError(["registry.sqlite", fragment, "restore"]) { _ = try store.settings() }
            try store.db.query("UPDATE settings SET value = ? WHERE key = ?", [.text(old), .text(key)])
        }
    }

    /// A queued job whose row does not read is failed with the reason when the worker reaches it,
    /// and the next job runs (it used to hold the queue for good); the input paths unfinished jobs
    /// name are listed by SQL, past a row whose payload does not parse.
    func testADamagedQueuedJobIsFailedAndTheQueueMovesOn() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("q.sqlite"))
        let bad = try store.enqueueJob(kind: .register, payload: .object([("model", .string("/h/incoming/upload-a"))]))
        let good = try store.enqueueJob(kind: .register, payload: .object([("model", .string("/m/expert.safetensors")),
                                                                           ("resolved", .string("/h/incoming/link-b/expert.safetensors"))]))
        try store.db.query("PRAGMA ignore_check_constraints = ON")
        try store.db.query("UPDATE jobs SET kind = 'exploded' WHERE id = ?", [.of(bad.id)])
        XCTAssertEqual(try store.inputPathsOfUnfinishedJobs(), ["/h/incoming/upload-a", "/m/expert.safetensors", "/h/incoming/link-b/expert.safetensors"])
        XCTAssertEqual(try store.claimNextJob()?.id, good.id)
        let row = try XCTUnwrap(try store.db.query("SELECT state, error FROM jobs WHERE id = ?", [.of(bad.id)]).first)
        XCTAssertEqual(row["state"].text, "failed")
        XCTAssertTrue(row["error"].text?.contains("'exploded'") ?? false, row["error"].text ?? "")
        XCTAssertNil(try store.claimNextJob())
        try store.db.query("UPDATE jobs SET state = 'queued', payload_json = '{not json' WHERE id = ?", [.of(good.id)])
        XCTAssertEqual(try store.inputPathsOfUnfinishedJobs(), [], "the damaged payload names nothing, and the call does not throw")
    }

    func testModelsAreIdempotentByContent() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("p.sqlite"))
        let (a, createdA) = try store.insertModel(kind: .base, name: "base", task: nil, sourcePath: "/x", format: .directory,
                                                  contentHash: hash(1), architecture: "llama", parentID: nil, rawBytes: 10, storedBytes: 5)
        let (b, createdB) = try store.insertModel(kind: .task, name: "again", task: "t", sourcePath: "/y", format: .file,
                                                  contentHash: hash(1), architecture: "llama", parentID: nil, rawBytes: 10, storedBytes: 0)
        XCTAssertTrue(createdA)
        XCTAssertFalse(createdB)
        XCTAssertEqual(a, b)
        XCTAssertEqual(try store.models().count, 1)
        XCTAssertEqual(try store.model(hash: hash(1))?.name, "base")
    }

    func testVersionsHeadRollbackAndTags() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("p.sqlite"))
        let base = try store.insertModel(kind: .base, name: "base", task: nil, sourcePath: nil, format: .directory,
                                         contentHash: hash(1), architecture: "", parentID: nil, rawBytes: 0, storedBytes: 0).record
        let task = try store.insertModel(kind: .task, name: "a", task: "a", sourcePath: nil, format: .file,
                                         contentHash: hash(2), architecture: "", parentID: base.id, rawBytes: 0, storedBytes: 0).record
        XCTAssertNil(try store.head())
        let v1 = try store.commitVersion(modelID: base.id, parent: nil, task: nil, method: .base)
        var detail = VersionDetail()
        detail.inputs = [(base.id, .base), (task.id, .expert)]
        detail.layerWeights = [(0, base.id, 0.25), (0, task.id, 0.75), (1, base.id, 0.5), (1, task.id, 0.5)]
        detail.similarities = [(0, base.id, task.id, 0.9, 1.5)]
        let v2 = try store.commitVersion(modelID: task.id, parent: v1.number, task: "a", method: .recall, optionsJSON: #"{"tau":0.1}"#, detail: detail)
        XCTAssertEqual([v1.number, v2.number], [1, 2])
        XCTAssertEqual(try store.head(), 2)
        let back = try store.detail(of: 2)
        XCTAssertEqual(back.inputs.map(\.role), [.base, .expert])
        XCTAssertEqual(back.layerWeights.map(\.weight), [0.25, 0.75, 0.5, 0.5])
        XCTAssertEqual(back.similarities.first?.sigma, 1.5)

        // A gated version is recorded but head stays.
        let v3 = try store.commitVersion(modelID: task.id, parent: 2, task: "b", method: .recall, gated: true, gateReason: "task a dropped 7 points")
        XCTAssertTrue(v3.gated)
        XCTAssertEqual(try store.head(), 2)

        try store.rollback(to: 1)
        XCTAssertEqual(try store.head(), 1)
        XCTAssertEqual(try store.versions().count, 3, "rollback keeps history")
        assertRecallError(["no version 9", "history"]) { try store.rollback(to: 9) }
        XCTAssertEqual(try store.head(), 1, "a failed rollback changes nothing")

        try store.tag("good", version: 2)
        XCTAssertEqual(try store.resolve("good"), 2)
        XCTAssertEqual(try store.resolve("head"), 1)
        XCTAssertEqual(try store.resolve("3"), 3)
        assertRecallError(["\"nope\""]) { _ = try store.resolve("nope") }
        assertRecallError(["not allowed"]) { try store.tag("head", version: 1) }
        XCTAssertEqual(try store.events().first?["kind"].text, "tag")
    }

    func testForeignKeysAreEnforced() throws {
        let store = try ProvenanceStore(path: dir.appendingPathComponent("p.sqlite"))
        XCTAssertThrowsError(try store.commitVersion(modelID: 42, parent: nil, task: nil, method: .base))
        XCTAssertEqual(try store.versions().count, 0, "the failed transaction left nothing")
    }
}

final class RegistryStoreTests: XCTestCase {
    func testPutAndExportAreBitExactWithSideFiles() throws {
        let dir = try makeTempDirectory(self)
        let store = try RegistryStore(home: dir.appendingPathComponent("home"))
        let source = try Checkpoint.open(Fixtures.url("hf-tiny-llama"))
        let (model, stats, created) = try store.putModel(source, kind: .base, name: "tiny")
        XCTAssertTrue(created)
        XCTAssertEqual(stats.rawBytes, source.weights.totalBytes + 715 + 195, "weights + config.json + generation_config.json")
        XCTAssertEqual(model.architecture, try source.modelConfig().summary)
        let again = try store.putModel(source, kind: .base, name: "tiny")
        XCTAssertFalse(again.created)
        XCTAssertEqual(again.stats.newChunks, 0)
        _ = try store.provenance.commitVersion(modelID: model.id, parent: nil, task: nil, method: .base)

        let out = dir.appendingPathComponent("export")
        try store.export(version: "head", to: out)
        let exported = try Checkpoint.open(out)
        for info in source.weights.infos {
            XCTAssertEqual(try exported.weights.tensor(named: info.name).sha256, try source.weights.tensor(named: info.name).sha256)
        }
        XCTAssertEqual(exported.configJSON, source.configJSON)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("generation_config.json")),
                       try Data(contentsOf: Fixtures.url("hf-tiny-llama/generation_config.json")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["config.json", "generation_config.json", "model.safetensors"])

        assertRecallError(["not empty", "--force"]) { try store.export(version: "1", to: out) }
        let missing = dir.appendingPathComponent("never")
        assertRecallError(["no version 7"]) { try store.export(version: "7", to: missing) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing.path))
        XCTAssertTrue(try store.blobs.verify().isClean)
    }
}

final class RegistryGCTests: XCTestCase {
    func testGCDropsManifestsWithoutARecordAndKeepsRecordedOnes() throws {
        let dir = try makeTempDirectory(self)
        let store = try RegistryStore(home: dir)
        let recorded = try store.putModel(try Checkpoint.open(Fixtures.url("hf-tiny-llama")), kind: .base, name: "tiny").model
        // A put whose record never landed (a crash between LMDB and SQLite).
        let (orphan, _) = try store.blobs.put(try Checkpoint.open(Fixtures.url("hf-tiny-llama-sharded")).weights)
        let report = try store.gc()
        XCTAssertEqual(report.removedManifests, 1)
        XCTAssertGreaterThan(report.removedChunks, 0)
        XCTAssertFalse(try store.blobs.contains(orphan))
        XCTAssertTrue(try store.blobs.contains(recorded.contentHash))
        XCTAssertTrue(try store.blobs.verify().isClean)
    }

    /// A home whose registry.sqlite is gone but whose store holds models is refused, naming both:
    /// a fresh empty registry there would let the next gc delete every model (RELIABILITY.md).
    func testRefusesProvenanceWhoseStoreIsMissing() throws {
        let dir = try makeTempDirectory(self)
        do {
            let store = try RegistryStore(home: dir)
            _ = try store.putModel(try Checkpoint.open(Fixtures.url("hf-tiny-llama")), kind: .base, name: "tiny")
        }
        let data = dir.appendingPathComponent("store/data.mdb")
        try FileManager.default.removeItem(at: data)
        XCTAssertThrowsError(try RegistryStore(home: dir)) { error in
            let message = (error as? RecallError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains("data.mdb is missing") && message.contains("records 1 model"), message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: data.path), "no empty store created in its place")
    }

    func testRefusesAStoreWhoseProvenanceIsMissing() throws {
        let dir = try makeTempDirectory(self)
        do {
            let store = try RegistryStore(home: dir)
            _ = try store.putModel(try Checkpoint.open(Fixtures.url("hf-tiny-llama")), kind: .base, name: "tiny")
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(at: dir.appendingPathComponent("registry.sqlite" + suffix)) }
        XCTAssertThrowsError(try RegistryStore(home: dir)) { error in
            let message = (error as? RecallError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains("registry.sqlite is missing") && message.contains("1 stored model"), message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("registry.sqlite").path), "nothing created")
        // An empty home still starts a new registry.
        XCTAssertNoThrow(try RegistryStore(home: try makeTempDirectory(self)))
    }

    /// verify checks both directions: a model the provenance records whose manifest is gone is
    /// reported missing, not "clean, 0 manifests".
    func testVerifyReportsRecordedModelsWithoutManifests() throws {
        let dir = try makeTempDirectory(self)
        let store = try RegistryStore(home: dir)
        let model = try store.putModel(try Checkpoint.open(Fixtures.url("hf-tiny-llama")), kind: .base, name: "tiny").model
        XCTAssertTrue(try store.verify().isClean)
        _ = try store.blobs.gc { [] }  // drops every manifest, as a lost data.mdb would
        let report = try store.verify()
        XCTAssertFalse(report.isClean)
        XCTAssertEqual(report.missing.count, 1, "\(report.missing)")
        XCTAssertTrue(report.missing[0].contains("model \(model.id) (tiny)"), report.missing[0])
    }
}
