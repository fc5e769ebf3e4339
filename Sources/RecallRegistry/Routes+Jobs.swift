import Foundation
import Hummingbird
import RecallTensor
import RecallAPI
import RecallService

/// The job queue: list, one job, and a job's progress as a chunked NDJSON stream.
extension Routes {
    /// `GET /v1/jobs`
    var jobs: Route.Handler {
        { _, _ in
            await handle {
                API.json(try await API.blocking { try registry.jobs().map { registry.jobReply($0, hidingPaths: remote) } })
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
                // The row is read once (and again when the state changes, for its timestamps and
                // result); in between the lines follow the registry's progress stream.
                let body = ResponseBody { writer in
                    // Subscribed before the read: a change after it is delivered; one before it is in the row.
                    let updates = registry.progressUpdates(job: id)
                    guard var job = try await API.blocking({ try registry.job(id) }) else { try await writer.finish(nil); return }
                    // What makes a line news: state, phase and progress as the line itself says them.
                    func key(_ line: JobReply) -> String { "\(line.state)|\(line.phase ?? "")|\(line.progress)" }
                    func bytes(_ line: JobReply) throws -> ByteBuffer {
                        var buffer = ByteBuffer(bytes: try WireJSON.encode(line))
                        buffer.writeString("\n")
                        return buffer
                    }
                    let first = registry.jobReply(job, hidingPaths: remote)
                    var last = key(first)
                    try await writer.write(try bytes(first))
                    if !job.isFinished {
                        for await change in updates {
                            var line = registry.jobReply(job, after: change, hidingPaths: remote)
                            if change.state != job.state, let row = try await API.blocking({ try registry.job(id) }) {
                                job = row
                                line = change.isFinished ? registry.jobReply(job, hidingPaths: remote) : registry.jobReply(job, after: change, hidingPaths: remote)
                            }
                            if key(line) != last {
                                try await writer.write(try bytes(line))
                                last = key(line)
                            }
                            if change.isFinished { break }
                        }
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

    static func job(_ registry: Registry, _ id: Int, hidingPaths: Bool) throws -> JobReply {
        guard let job = try registry.job(id) else { throw APIError(.notFound, "no job \(id); see `recallctl jobs`") }
        return registry.jobReply(job, hidingPaths: hidingPaths)
    }
}
