import Foundation
import Hummingbird
import RecallTensor
import RecallService

/// The job queue: list, one job, and a job's progress as a chunked NDJSON stream.
extension Routes {
    /// `GET /v1/jobs`
    var jobs: Route.Handler {
        { _, _ in
            await handle {
                API.json(.array(try await API.blocking { try registry.jobs().map { registry.jobJSON($0, hidingPaths: remote) } }))
            }
        }
    }

    /// `GET /v1/jobs/{id}`
    var job: Route.Handler {
        { _, context in
            await handle {
                let id = try Self.jobID(context)
                return API.json(try await API.blocking { try Self.job(registry, id, hidingPaths: remote) })
            }
        }
    }

    /// `GET /v1/jobs/{id}/watch`: NDJSON until the job is over.
    var watchJob: Route.Handler {
        { _, context in
            await handle {
                let id = try Self.jobID(context)
                _ = try await API.blocking { try Self.job(registry, id, hidingPaths: remote) }
                // NDJSON: one line per change of phase or progress, the last one when the job is over.
                let body = ResponseBody { writer in
                    var last = ""
                    while true {
                        let job = try await API.blocking { try registry.job(id) }
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
    }

    static func jobID(_ context: BasicRequestContext) throws -> Int {
        let raw = try context.parameters.require("id")
        guard let id = Int(raw) else { throw APIError(.badRequest, "job id '\(raw)' is not a number") }
        return id
    }

    static func job(_ registry: Registry, _ id: Int, hidingPaths: Bool) throws -> JSONValue {
        guard let job = try registry.job(id) else { throw APIError(.notFound, "no job \(id); see `recallctl jobs`") }
        return registry.jobJSON(job, hidingPaths: hidingPaths)
    }
}
