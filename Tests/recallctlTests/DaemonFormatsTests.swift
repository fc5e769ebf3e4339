import Foundation
import XCTest
@testable import RecallTensor

/// What register accepts (GGUF, PEFT adapters, HF directories, uploads), the two scenarios,
/// --parent, metrics and `recallctl daemon start|stop`.
final class DaemonFormatsTests: XCTestCase {
    /// A PEFT adapter registered under task_arithmetic (one model, weight 1) must give what
    /// peft's merge_and_unload() gives: the oracle in Fixtures/lora/plain/expected.safetensors.
    func testPEFTAdapterMatchesPeftMergeAndUnload() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        let base = CLI.fixtures.appendingPathComponent("hf-tiny-llama-sharded")
        try daemon.ok(["init", base.path, "--method", "task_arithmetic"])
        let samples = try makeTemp(self).appendingPathComponent("s.jsonl")
        try Data("{\"text\": \"hello\"}\n".utf8).write(to: samples)
        try daemon.ok(["register", CLI.fixtures.appendingPathComponent("lora/plain").path, "--task", "plain", "--samples", samples.path])
        let show = try daemon.json(["show", "2"])
        XCTAssertEqual(show["inputs"]?.arrayValue?.last?["role"]?.stringValue, "new")
        let out = try makeTemp(self).appendingPathComponent("v2")
        try daemon.ok(["export", "2", out.path])
        let merged = try Checkpoint.open(out).weights
        let expected = try SafeTensorsFile(url: CLI.fixtures.appendingPathComponent("lora/plain/expected.safetensors"))
        let baseWeights = try Checkpoint.open(base).weights
        XCTAssertFalse(expected.infos.isEmpty)
        for info in merged.infos {
            let got = try merged.tensor(named: info.name).toFloat32()
            let want = try (expected.infos.contains { $0.name == info.name } ? expected.tensor(named: info.name) : baseWeights.tensor(named: info.name)).toFloat32()
            let diff = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(diff, 1e-5, info.name)
        }
    }

    /// A GGUF task model is read in place, dequantised into the base's dtype as the worker stores
    /// it; linear over one model is that model, which must equal transformers' own reading of the
    /// GGUF (Fixtures/gguf/tiny-llama.expected.safetensors), rounded to the base's dtype.
    func testGGUFTaskModelIsReadIntoTheBasesDType() throws {
        for dtype in [DType.f32, .bf16] {
            let root = try makeTemp(self)
            let gguf = CLI.fixtures.appendingPathComponent("gguf/tiny-llama.gguf")
            let imported = root.appendingPathComponent("imported")
            XCTAssertEqual(try CLI.run(["import", gguf.path, imported.path, "--dtype", "f32"]).status, 0)
            // The base: the same architecture, weights moved, so the GGUF is a different (task) model.
            let base = root.appendingPathComponent("base")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: imported.path) where f != "model.safetensors" {
                try FileManager.default.copyItem(at: imported.appendingPathComponent(f), to: base.appendingPathComponent(f))
            }
            let source = try Checkpoint.open(imported).weights
            var rng = SplitMix(seed: 5)
            let moved = try source.infos.map { info -> TensorView in
                TensorView(name: info.name, shape: info.shape, float32: try source.tensor(named: info.name).toFloat32().map { $0 + Float.random(in: -0.01...0.01, using: &rng) }, as: dtype)
            }
            try SafeTensorsWriter().write(moved, to: base.appendingPathComponent("model.safetensors"))

            let daemon = try DaemonHarness(self)
            try daemon.start()
            try daemon.ok(["init", base.path, "--method", "linear"])
            let samples = root.appendingPathComponent("s.jsonl")
            try Data("{\"text\": \"hello\"}\n".utf8).write(to: samples)
            try daemon.ok(["register", gguf.path, "--task", "gguf", "--samples", samples.path])
            let out = root.appendingPathComponent("v2")
            try daemon.ok(["export", "2", out.path, "--stream"])
            let merged = try Checkpoint.open(out).weights
            let oracle = try SafeTensorsFile(url: CLI.fixtures.appendingPathComponent("gguf/tiny-llama.expected.safetensors"))
            for info in oracle.infos {
                let got = try merged.tensor(named: info.name)
                let want = try oracle.tensor(named: info.name).converted(to: dtype)
                XCTAssertEqual(got.dtype, dtype, info.name)
                // As values: transformers gives -0.0 where a zero quant times a negative scale
                // gives +0.0 here; they are the same weight.
                XCTAssertEqual(try got.toFloat32(), try want.toFloat32(), "\(dtype) \(info.name)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.home.appendingPathComponent("incoming").path), [],
                           "nothing is left in incoming/: the GGUF file was read in place, through its hard link")
            XCTAssertTrue(FileManager.default.fileExists(atPath: gguf.path))
        }
    }

    func testSequentialScenarioParentAndHFDirectoryInput() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--scenario", "sequential", "--method", "recall", "--opt", "clusters=3", "--opt", "lambda=1"])
        for (i, t) in ["a", "b", "c"].enumerated() {
            try daemon.ok(["register", try models.expert(t, seed: UInt64(i + 1), asFile: i != 1).path, "--task", t, "--samples", try models.samples(t).path])
        }
        // Sequential: head + new, never more.
        let v4 = try daemon.json(["show", "4"])
        let roles = (v4["inputs"]?.arrayValue ?? []).compactMap { $0["role"]?.stringValue }
        XCTAssertEqual(roles, ["base", "head", "new"])
        let v3Model = try daemon.json(["show", "3"])["model"]?["id"]?.intValue
        XCTAssertEqual(v4["inputs"]?.arrayValue?[1]["model_id"]?.intValue, v3Model, "the head input is version 3's merged model")
        // The earlier tasks' typical samples joined the probe set.
        XCTAssertEqual(v4["details"]?["probe_samples"]?.intValue, 9)

        // --parent: merge onto version 2 instead of head.
        try daemon.ok(["register", try models.expert("d", seed: 4).path, "--task", "d", "--samples", try models.samples("d").path, "--parent", "2"])
        let v5 = try daemon.json(["show", "5"])
        XCTAssertEqual(v5["parent"]?.intValue, 2)
        let v2Model = try daemon.json(["show", "2"])["model"]?["id"]?.intValue
        XCTAssertEqual(v5["inputs"]?.arrayValue?[1]["model_id"]?.intValue, v2Model)
    }

    func testMetricsAndDaemonStartStop() throws {
        let models = try TinyModels(self)
        let home = try makeTemp(self)
        let socket = "/tmp/rr-\(UUID().uuidString.prefix(8)).sock"
        let started = try CLI.run(["daemon", "start", "--home", home.path, "--socket", socket])
        XCTAssertEqual(started.status, 0, started.stderr)
        defer { _ = try? CLI.run(["daemon", "stop", "--home", home.path]) }
        XCTAssertEqual(try CLI.run(["init", models.base.path, "--method", "linear", "--socket", socket]).status, 0)
        XCTAssertEqual(try CLI.run(["register", try models.expert("a", seed: 1).path, "--task", "a", "--samples", try models.samples("a").path, "--socket", socket]).status, 0)

        let metrics = try unixGET(socket, "/metrics")
        XCTAssertTrue(metrics.hasPrefix("HTTP/1.1 200"), metrics)
        XCTAssertTrue(metrics.contains("recall_jobs{state=\"succeeded\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("recall_job_duration_seconds_count 1"), metrics)
        XCTAssertTrue(metrics.contains("recall_versions 2"), metrics)
        let dedup = metrics.split(separator: "\n").first { $0.hasPrefix("recall_store_dedup_ratio ") }
        XCTAssertGreaterThan(Double(dedup?.split(separator: " ").last ?? "") ?? 0, 1, "stored bytes < logical bytes")
        XCTAssertTrue(metrics.contains("recall_http_requests_total{method=\"POST\",status=\"202\"} 1"), metrics)
        let health = try unixGET(socket, "/v1/health")
        XCTAssertTrue(health.lowercased().contains("x-request-id:"), health)

        let stopped = try CLI.run(["daemon", "stop", "--home", home.path])
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        XCTAssertEqual(try CLI.run(["status", "--socket", socket]).status, 1, "gone after stop")
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket), "the socket is removed on a clean stop")
    }
}

/// One raw HTTP/1.1 GET over a Unix socket; returns the whole response text.
func unixGET(_ path: String, _ target: String) throws -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard rc == 0 else { throw RecallError(.io, "connect \(path) failed") }
    let request = "GET \(target) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}
