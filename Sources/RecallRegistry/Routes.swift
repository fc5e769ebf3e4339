import Foundation
import Hummingbird
import RecallCore

/// The HTTP API (documented in docs/openapi.yaml; a test checks the two agree). Each handler
/// parses, hands blocking work to `API.blocking`, and answers JSON.
struct Routes {
    let registry: Registry
    let limits: Limits
    let metrics: Metrics
    /// Served on TCP: clients send and receive bytes only. No route reads or writes a path the
    /// client names (register takes an upload id, export streams the files, init is refused).
    var remote = false
    /// Uploads being received right now (a bounded number at a time).
    let uploadsInFlight = Counter()

    struct Limits {
        /// JSON request bodies (they carry the samples file).
        var maxJSONBytes = 64 << 20
        /// Streamed model uploads.
        var maxUploadBytes = 64 << 30
        /// Uploads received at once; more get 429 with Retry-After.
        var maxConcurrentUploads = 4
        /// Register jobs waiting in the queue; more get 429 with Retry-After.
        var maxQueuedJobs = 64
    }

    /// Refuses a request that names a path on the daemon's machine when served on TCP.
    func refusePath(_ what: String) throws {
        if remote { throw APIError(.forbidden, "over TCP \(what); a remote client never names a path on the daemon's machine") }
    }

    /// Every route as (method, path) in the router's syntax, for the OpenAPI check.
    static let table: [(String, String)] = [
        ("GET", "/v1/health"), ("GET", "/metrics"), ("GET", "/v1/status"), ("POST", "/v1/init"),
        ("POST", "/v1/uploads"), ("POST", "/v1/register"), ("GET", "/v1/versions"), ("GET", "/v1/versions/{ref}"),
        ("POST", "/v1/rollback"), ("POST", "/v1/tags"), ("POST", "/v1/versions/{ref}/export"),
        ("GET", "/v1/versions/{ref}/files"), ("GET", "/v1/versions/{ref}/files/{name}"),
        ("GET", "/v1/jobs"), ("GET", "/v1/jobs/{id}"), ("GET", "/v1/jobs/{id}/watch"),
        ("POST", "/v1/verify"), ("POST", "/v1/gc"), ("GET", "/v1/evaluations"), ("POST", "/v1/versions/{ref}/eval"),
    ]

    func handle(_ work: @escaping @Sendable () async throws -> Response) async -> Response {
        do { return try await work() } catch { return API.error(error) }
    }

    func add(to router: Router<BasicRequestContext>) {
        let registry = self.registry, limits = self.limits, metrics = self.metrics, remote = self.remote
        let uploadsInFlight = self.uploadsInFlight

        router.get("/v1/health") { _, _ in
            API.json(.object([("status", .string("ok")), ("version", .string(RecallVersion.string))]))
        }
        router.get("/metrics") { _, _ in
            await handle {
                let text = try await API.blocking { try metrics.render(registry) }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        router.get("/v1/status") { _, _ in
            await handle { API.json(try await API.blocking { try registry.statusJSON() }) }
        }
        router.post("/v1/init") { request, _ in
            await handle {
                try refusePath("the registry cannot be initialised (its base is a directory on the daemon's machine): run `recallctl init` there, over the Unix socket")
                let body = try await API.body(request, limit: limits.maxJSONBytes)
                let base = try body.requiredString("base")
                let method = try body.string("method") ?? "regmean"
                let scenarioName = try body.string("scenario") ?? "experts"
                guard let scenario = RegistrySettings.Scenario(rawValue: scenarioName) else {
                    throw APIError(.badRequest, "scenario '\(scenarioName)' must be experts or sequential")
                }
                var options: [String: String] = [:]
                for (k, v) in body["options"]?.objectValue ?? [] {
                    guard let s = v.stringValue else { throw APIError(.badRequest, "option \(k) must be a string") }
                    options[k] = s
                }
                let chosen = options
                let gate = body["gate"].flatMap { $0.isNull ? nil : $0 }
                if let gate, gate.doubleValue == nil { throw APIError(.badRequest, "field \"gate\" must be a number of accuracy points") }
                let gatePoints = gate?.doubleValue
                let evalMetric = try body.string("eval_metric") ?? "accuracy"
                if try await API.blocking({ try registry.store.provenance.settings() }) != nil {
                    throw APIError(.conflict, "the registry is already initialised; use a new --home for another base")
                }
                let version = try await API.blocking {
                    try registry.initialize(base: URL(fileURLWithPath: base), method: method, scenario: scenario, options: chosen,
                                            gatePoints: gatePoints, evalMetric: evalMetric)
                }
                return API.json(.object([("version", .int(version.number)), ("method", .string(method)),
                                         ("scenario", .string(scenario.rawValue))]), status: .created)
            }
        }
        router.post("/v1/uploads") { request, _ in
            await handle {
                let name = Uploads.safeName(request.uri.queryParameters.get("name") ?? "model.safetensors")
                if let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxUploadBytes {
                    throw APIError(.contentTooLarge, "upload of \(length) bytes is over the limit of \(limits.maxUploadBytes); raise --max-upload")
                }
                guard uploadsInFlight.acquire(limit: limits.maxConcurrentUploads) else {
                    throw APIError(.tooManyRequests, "\(limits.maxConcurrentUploads) uploads are already being received; retry when one is done", retryAfter: 5)
                }
                defer { uploadsInFlight.release() }
                let id = "upload-\(UUID().uuidString)-\(name)"
                let url = registry.incoming.appendingPathComponent(id)
                guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = FileHandle(forWritingAtPath: url.path) else {
                    throw APIError(.internalServerError, "\(url.path): cannot create the upload file")
                }
                var written = 0
                do {
                    for try await buffer in request.body {
                        written += buffer.readableBytes
                        if written > limits.maxUploadBytes {
                            throw APIError(.contentTooLarge, "upload is over the limit of \(limits.maxUploadBytes) bytes; raise --max-upload")
                        }
                        try handle.write(contentsOf: buffer.readableBytesView)
                    }
                    try handle.close()
                } catch {
                    try? handle.close()
                    try? FileManager.default.removeItem(at: url)
                    throw error
                }
                var reply: [(String, JSONValue)] = [("upload", .string(id)), ("bytes", .int(written))]
                if !remote { reply.append(("path", .string(url.path))) }
                return API.json(.object(reply), status: .created)
            }
        }
        router.post("/v1/register") { request, _ in
            await handle {
                let body = try await API.body(request, limit: limits.maxJSONBytes)
                var register = try RegisterRequest(json: body)
                if let upload = register.upload {
                    register.model = try Uploads.resolve(upload, in: registry.incoming).path
                    register.uploaded = true
                } else if remote {
                    try refusePath("a register names an upload: POST the model to /v1/uploads and send {\"upload\": id}")
                }
                if try await API.blocking({ try registry.store.provenance.jobs().filter { $0.state == .queued }.count }) >= limits.maxQueuedJobs {
                    throw APIError(.tooManyRequests, "\(limits.maxQueuedJobs) register jobs are already queued; retry when some are done", retryAfter: 30)
                }
                if register.upload == nil, register.uploaded {
                    // Only files the daemon itself received may be deleted after the job.
                    let path = URL(fileURLWithPath: register.model).standardizedFileURL.path
                    guard path.hasPrefix(registry.incoming.standardizedFileURL.path + "/") else {
                        throw APIError(.badRequest, "field \"uploaded\" is only for paths returned by /v1/uploads")
                    }
                } else {
                    register.model = URL(fileURLWithPath: register.model).standardizedFileURL.path
                }
                let submitted = register
                let job = try await API.blocking { try registry.submitRegister(submitted) }
                return API.json(registry.jobJSON(job, hidingPaths: remote), status: .accepted)
            }
        }
        router.get("/v1/versions") { _, _ in
            await handle { API.json(try await API.blocking { try registry.historyJSON() }) }
        }
        router.get("/v1/versions/:ref") { _, context in
            await handle {
                let ref = try context.parameters.require("ref")
                return API.json(try await API.blocking { try registry.versionJSON(ref) })
            }
        }
        router.post("/v1/rollback") { request, _ in
            await handle {
                let body = try await API.body(request, limit: limits.maxJSONBytes)
                let ref = try body.requiredString("version")
                let number = try await API.blocking { () -> Int in
                    let n = try registry.store.provenance.resolve(ref)
                    try registry.store.provenance.rollback(to: n)
                    return n
                }
                return API.json(.object([("head", .int(number))]))
            }
        }
        router.post("/v1/tags") { request, _ in
            await handle {
                let body = try await API.body(request, limit: limits.maxJSONBytes)
                let name = try body.requiredString("name"), ref = try body.requiredString("version")
                let number = try await API.blocking { () -> Int in
                    let n = try registry.store.provenance.resolve(ref)
                    try registry.store.provenance.tag(name, version: n)
                    return n
                }
                return API.json(.object([("tag", .string(name)), ("version", .int(number))]), status: .created)
            }
        }
        router.post("/v1/versions/:ref/export") { request, context in
            await handle {
                try refusePath("an export is downloaded: GET /v1/versions/{ref}/files and each file (`recallctl export --url` does this)")
                let ref = try context.parameters.require("ref")
                let body = try await API.body(request, limit: limits.maxJSONBytes)
                let path = try body.requiredString("path")
                let force = body["force"]?.boolValue ?? false
                let dtype = try body.string("dtype").map { d -> DType in
                    guard let t = DType(userSpelling: d), t.isComputeFloat else { throw APIError(.badRequest, "dtype '\(d)' must be f32, f16 or bf16") }
                    return t
                }
                let number = try await API.blocking { () -> Int in
                    let n = try registry.store.provenance.resolve(ref)
                    try registry.store.export(version: String(n), to: URL(fileURLWithPath: path), dtype: dtype, force: force)
                    return n
                }
                return API.json(.object([("version", .int(number)), ("path", .string(path))]))
            }
        }
        router.get("/v1/versions/:ref/files") { _, context in
            await handle {
                let ref = try context.parameters.require("ref")
                let names = try await API.blocking { () -> [String] in
                    let (_, ckpt) = try registry.store.checkpoint(version: ref)
                    return ["model.safetensors"] + ckpt.fileNames.sorted()
                }
                return API.json(.object([("files", .array(names.map { .string($0) }))]))
            }
        }
        router.get("/v1/versions/:ref/files/:name") { _, context in
            await handle {
                let ref = try context.parameters.require("ref"), name = try context.parameters.require("name")
                return try await API.blocking { try Self.fileResponse(registry, ref: ref, name: name) }
            }
        }
        router.get("/v1/jobs") { _, _ in
            await handle {
                API.json(.array(try await API.blocking { try registry.store.provenance.jobs().map { registry.jobJSON($0, hidingPaths: remote) } }))
            }
        }
        router.get("/v1/jobs/:id") { _, context in
            await handle {
                let id = try Self.jobID(context)
                return API.json(try await API.blocking { try Self.job(registry, id, hidingPaths: remote) })
            }
        }
        router.get("/v1/jobs/:id/watch") { _, context in
            await handle {
                let id = try Self.jobID(context)
                _ = try await API.blocking { try Self.job(registry, id, hidingPaths: remote) }
                // NDJSON: one line per change of phase or progress, the last one when the job is over.
                let body = ResponseBody { writer in
                    var last = ""
                    while true {
                        let job = try await API.blocking { try registry.store.provenance.job(id) }
                        guard let job else { break }
                        let line = registry.jobJSON(job, hidingPaths: remote).serialized()
                        let key = "\(job.state)|\(job.phase ?? "")|\(job.progress)"
                        if key != last {
                            try await writer.write(ByteBuffer(string: line + "\n"))
                            last = key
                        }
                        if job.isFinished { break }
                        try await Task.sleep(nanoseconds: 200_000_000)
                    }
                    try await writer.finish(nil)
                }
                return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
            }
        }
        router.get("/v1/evaluations") { request, _ in
            await handle {
                let metric = request.uri.queryParameters.get("metric")
                return API.json(try await API.blocking { try registry.evaluationsJSON(metric: metric) })
            }
        }
        router.post("/v1/versions/:ref/eval") { _, context in
            await handle {
                let ref = try context.parameters.require("ref")
                return API.json(try await API.blocking { try registry.evaluate(version: ref) })
            }
        }
        router.post("/v1/verify") { _, _ in
            await handle {
                let report = try await API.blocking { try registry.store.blobs.verify() }
                return API.json(.object([
                    ("clean", .bool(report.isClean)), ("manifests", .int(report.manifests)), ("chunks_checked", .int(report.chunksChecked)),
                    ("missing", .array(report.missing.map { .string($0) })), ("corrupt", .array(report.corrupt.map { .string($0) })),
                    ("unreferenced_chunks", .int(report.unreferencedChunks)),
                ]))
            }
        }
        router.post("/v1/gc") { _, _ in
            await handle {
                let report = try await API.blocking { try registry.store.gc() }
                return API.json(.object([
                    ("removed_manifests", .int(report.removedManifests)), ("removed_chunks", .int(report.removedChunks)),
                    ("removed_bytes", .int(report.removedBytes)), ("kept_chunks", .int(report.keptChunks)),
                ]))
            }
        }
    }

    static func jobID(_ context: BasicRequestContext) throws -> Int {
        let raw = try context.parameters.require("id")
        guard let id = Int(raw) else { throw APIError(.badRequest, "job id '\(raw)' is not a number") }
        return id
    }

    static func job(_ registry: Registry, _ id: Int, hidingPaths: Bool) throws -> JSONValue {
        guard let job = try registry.store.provenance.job(id) else { throw APIError(.notFound, "no job \(id); see `recallctl jobs`") }
        return registry.jobJSON(job, hidingPaths: hidingPaths)
    }

    /// A stored version's file: `model.safetensors` is written from the store into a temporary
    /// file (one safetensors file, streamed tensor by tensor) and sent; side files come as stored.
    static func fileResponse(_ registry: Registry, ref: String, name: String) throws -> Response {
        let (_, ckpt) = try registry.store.checkpoint(version: ref)
        if name != "model.safetensors" {
            let data = try ckpt.file(named: name)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        let tmp = registry.incoming.appendingPathComponent("export-\(UUID().uuidString).safetensors")
        try CheckpointWriter(metadata: ["recall.model": ckpt.hash]).write(ckpt, configJSON: nil, sidecars: [], to: tmp)
        let handle = try FileHandle(forReadingFrom: tmp)
        // Unlinked now: the open handle keeps the bytes until it is closed.
        try? FileManager.default.removeItem(at: tmp)
        let size = Int(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        let body = ResponseBody(contentLength: size) { writer in
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }
}
