import Foundation
import Hummingbird
import RecallCore

/// JSON in and out, errors as `{"error": "..."}` with a status that says whose fault it is.
enum API {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer(string: value.serialized())
        buffer.writeString("\n")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func error(_ message: String, status: HTTPResponse.Status) -> Response {
        json(.object([("error", .string(message))]), status: status)
    }

    /// Maps a failure to a response: the user's input -> 4xx, our side -> 500.
    static func error(_ error: Error) -> Response {
        if let e = error as? APIError { return self.error(e.message, status: e.status) }
        if let e = error as? RecallError {
            switch e.kind {
            case .notFound: return self.error(e.message, status: .notFound)
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
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension JSONValue {
    func string(_ key: String) throws -> String? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw APIError(.badRequest, "field \"\(key)\" must be a string") }
        return s
    }

    func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw APIError(.badRequest, "field \"\(key)\" is missing") }
        return s
    }
}
