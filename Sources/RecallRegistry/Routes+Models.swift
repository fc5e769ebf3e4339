import Foundation
import Hummingbird
import RecallAPI

/// Uploads and registers: a model comes in as bytes (or, on the Unix socket, a path) and leaves as a queued job.
extension Routes {
    /// `POST /v1/uploads`: the model's bytes as the body, stored under `incoming/` until its job ends.
    var upload: Route.Handler {
        { request, _ in
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
                        do { try handle.write(contentsOf: buffer.readableBytesView) } catch {
                            throw APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), "cannot write the upload after \(written) bytes (\(Self.reason(error))); free disk space on the daemon's machine and retry")
                        }
                    }
                    try handle.close()
                    guard written > 0 else { throw APIError(.badRequest, "the upload is empty; send the model file's bytes as the request body") }
                } catch {
                    try? handle.close()
                    try? FileManager.default.removeItem(at: url)
                    throw error
                }
                let reply = UploadReply(upload: id, bytes: written, path: remote ? nil : url.path)
                return API.json(reply, status: .created)
            }
        }
    }

    /// `POST /v1/register`: checks the model and queues its job (202 with the job).
    var register: Route.Handler {
        { request, _ in
            await handle {
                let body = try await API.body(request, limit: limits.maxJSONBytes)
                var register = try RegisterRequest(json: body)
                if let upload = register.upload {
                    register.model = try Uploads.resolve(upload, in: registry.incoming).path
                    register.uploaded = true
                } else if remote {
                    try refusePath("a register names an upload: POST the model to /v1/uploads and send {\"upload\": id}")
                }
                if try await API.blocking({ try registry.queuedJobCount() }) >= limits.maxQueuedJobs {
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
                return API.json(registry.jobReply(job, hidingPaths: remote), status: .accepted)
            }
        }
    }

    /// The operating system's reason for a failed write, in a few words (not Foundation's dump).
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = (ns.userInfo[NSUnderlyingErrorKey] as? NSError).map({ $0.code }) ?? (ns.domain == NSPOSIXErrorDomain ? ns.code : nil) {
            return String(cString: strerror(Int32(posix)))
        }
        return ns.localizedDescription
    }
}
