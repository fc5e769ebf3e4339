import Foundation
import Hummingbird
import RecallTensor
import RecallModel
import RecallAPI

/// JSON in and out, errors as `ErrorBody` (`{"error": ..., "hint": ...}`) with a status that says
/// whose fault it is.
enum API {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer(string: value.serialized())
        buffer.writeString("\n")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// A RecallAPI reply type (or a list of them) as JSON, written by `WireJSON` (keys sorted).
    static func json(_ reply: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        do {
            var buffer = ByteBuffer(bytes: try WireJSON.encode(reply))
            buffer.writeString("\n")
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
        } catch {
            return self.error("cannot encode the reply (\(error))", status: .internalServerError)
        }
    }

    static func error(_ message: String, status: HTTPResponse.Status, hint: String? = nil) -> Response {
        json(ErrorBody(error: message, hint: hint).json, status: status)
    }

    /// Maps a failure to a response: the user's input -> 4xx, our side -> 500.
    static func error(_ error: Error) -> Response {
        if let e = error as? APIError {
            var response = self.error(e.message, status: e.status, hint: e.hint)
            if let seconds = e.retryAfter { response.headers[.retryAfter] = String(seconds) }
            return response
        }
        if let e = error as? RecallError {
            switch e.kind {
            case .notFound: return self.error(e.message, status: .notFound)
            case .conflict: return self.error(e.message, status: .conflict)
            case .io: return self.error(e.message, status: .internalServerError)
            case .invalidArgument, .invalidFile, .mismatch, .unsupported: return self.error(e.message, status: .badRequest)
            }
        }
        if let e = error as? TokenizerError { return self.error("\(e)", status: .badRequest) }
        return self.error("\(error)", status: .internalServerError)
    }

    /// Runs blocking store work off the event loop.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Reads a JSON body of at most `limit` bytes.
    static func body(_ request: Request, limit: Int) async throws -> JSONValue {
        var data = Data()
        for try await buffer in request.body {
            data.append(contentsOf: buffer.readableBytesView)
            if data.count > limit {
                throw APIError(.contentTooLarge, "request body is larger than the limit of \(limit) bytes; raise --max-body or send less")
            }
        }
        if data.isEmpty { return .object([]) }
        do { return try JSONValue.parse(data) } catch {
            throw APIError(.badRequest, "request body is not valid JSON (\(error))")
        }
    }
}

struct APIError: Error {
    let status: HTTPResponse.Status
    let message: String
    /// Seconds for a `Retry-After` header (429 answers).
    let retryAfter: Int?
    /// What to do next, when the message alone does not say.
    let hint: String?
    init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil, hint: String? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
        self.hint = hint ?? retryAfter.map { "retry in \($0) s" }
    }
}

/// A count of things in progress, bounded by the caller's limit.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func acquire(limit: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard value < limit else { return false }
        value += 1
        return true
    }
    func release() { lock.lock(); value -= 1; lock.unlock() }
}

/// Uploaded files live in the daemon's `incoming/` under names it makes; clients name them by id.
enum Uploads {
    /// The client's file name reduced to letters, digits, `.`, `_` and `-`, never starting with a dot.
    static func safeName(_ name: String) -> String {
        let kept = String(name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) ? Character($0) : "_" })
        var collapsed = String(kept.drop { $0 == "." })
        while collapsed.contains("..") { collapsed = collapsed.replacingOccurrences(of: "..", with: ".") }
        let trimmed = collapsed.prefix(100)
        return trimmed.isEmpty ? "model" : String(trimmed)
    }

    /// The file of upload `id`: refused unless it is a name the daemon made (no `/`, no `..`)
    /// and a regular file (not a symlink) in `incoming`.
    static func resolve(_ id: String, in incoming: URL) throws -> URL {
        guard id.hasPrefix("upload-"), !id.contains("/"), !id.contains(".."), safeName(id) == id else {
            throw APIError(.badRequest, "field \"upload\": '\(id)' is not an upload id; use the id POST /v1/uploads returned")
        }
        let url = incoming.appendingPathComponent(id)
        var info = stat()
        guard lstat(url.path, &info) == 0 else {
            throw APIError(.notFound, "upload '\(id)' does not exist (uploads are removed when their job ends); upload the model again")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw APIError(.badRequest, "upload '\(id)' is not a regular file")
        }
        return url
    }
}
