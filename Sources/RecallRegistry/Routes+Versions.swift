import Foundation
import Hummingbird
import RecallTensor
import RecallAPI
import RecallService
import RecallStore

/// The lineage: list, show, rollback, tag, export, files, evaluations.
extension Routes {
    /// `GET /v1/versions`
    var versions: Route.Handler {
        { _, _ in
            await handle { API.json(try await API.blocking { try registry.history() }) }
        }
    }

    /// `GET /v1/versions/{ref}`
    var version: Route.Handler {
        { _, context in
            await handle {
                let ref = try context.parameters.require("ref")
                return API.json(try await API.blocking { try registry.versionDetail(ref) })
            }
        }
    }

    /// `POST /v1/rollback`
    var rollback: Route.Handler {
        { request, _ in
            await handle {
                let body = try RollbackRequest(json: try await API.body(request, limit: limits.maxJSONBytes))
                let number = try await API.blocking { try registry.rollback(to: body.version) }
                return API.json(RollbackReply(head: number))
            }
        }
    }

    /// `POST /v1/tags`
    var tag: Route.Handler {
        { request, _ in
            await handle {
                let body = try TagRequest(json: try await API.body(request, limit: limits.maxJSONBytes))
                let number = try await API.blocking { try registry.tag(body.name, version: body.version) }
                return API.json(TagReply(tag: body.name, version: number), status: .created)
            }
        }
    }

    /// `POST /v1/versions/{ref}/export`: Unix socket only (writes a directory on the daemon's machine).
    var export: Route.Handler {
        { request, context in
            await handle {
                try refusePath("an export is downloaded: GET /v1/versions/{ref}/files and each file (`recallctl export --url` does this)")
                let ref = try context.parameters.require("ref")
                let body = try ExportRequest(json: try await API.body(request, limit: limits.maxJSONBytes))
                let dtype = try body.dtype.map { d -> DType in
                    guard let t = DType(userSpelling: d), t.isComputeFloat else { throw APIError(.badRequest, "field \"dtype\": '\(d)' must be f32, f16 or bf16") }
                    return t
                }
                let number = try await API.blocking {
                    try registry.export(version: ref, to: URL(fileURLWithPath: body.path), dtype: dtype, force: body.force)
                }
                return API.json(ExportReply(version: number, path: body.path))
            }
        }
    }

    /// `GET /v1/versions/{ref}/files`
    var files: Route.Handler {
        { _, context in
            await handle {
                let ref = try context.parameters.require("ref")
                return API.json(FileListReply(files: try await API.blocking { try registry.exportFileNames(version: ref) }))
            }
        }
    }

    /// `GET /v1/versions/{ref}/files/{name}`: one file's bytes.
    var file: Route.Handler {
        { _, context in
            await handle {
                let ref = try context.parameters.require("ref"), name = try context.parameters.require("name")
                return try await API.blocking { try Self.fileResponse(registry, ref: ref, name: name) }
            }
        }
    }

    /// `GET /v1/evaluations` (optionally `?metric=`)
    var evaluations: Route.Handler {
        { request, _ in
            await handle {
                let metric = request.uri.queryParameters.get("metric")
                return API.json(try await API.blocking {
                    try registry.evaluations(metric: try metric.map { try EvalMetric.parse($0, field: "metric") })
                })
            }
        }
    }

    /// `POST /v1/versions/{ref}/eval`
    var evaluate: Route.Handler {
        { _, context in
            await handle {
                let ref = try context.parameters.require("ref")
                return API.json(try await API.blocking { try registry.evaluate(version: ref) })
            }
        }
    }

    /// A stored version's file: `model.safetensors` is written from the store into a temporary
    /// file (one safetensors file, streamed tensor by tensor) and sent; side files come as stored.
    static func fileResponse(_ registry: Registry, ref: String, name: String) throws -> Response {
        let ckpt = try registry.checkpoint(version: ref)
        if name != "model.safetensors" {
            let data = try ckpt.file(named: name)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        let tmp = registry.incoming.appendingPathComponent("export-\(UUID().uuidString).safetensors")
        try CheckpointWriter(metadata: ["recall.model": ckpt.hash], prefetch: true).write(ckpt, configJSON: nil, sidecars: [], to: tmp)
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
