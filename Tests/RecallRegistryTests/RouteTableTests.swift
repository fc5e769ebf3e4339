import Foundation
import Hummingbird
import HummingbirdTesting
import XCTest
import Yams
@testable import RecallAPI
@testable import RecallRegistry
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor

/// `Routes.table` is the API's one list of operations: it equals docs/openapi.yaml's, the router
/// serves every entry, and the reply types encode the field names the document's schemas list.
final class RouteTableTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func spec() throws -> [String: Any] {
        let text = try String(contentsOf: Self.repo.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        return try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any])
    }

    /// "METHOD /path" of every operation docs/openapi.yaml declares.
    func specOperations() throws -> Set<String> {
        let paths = try XCTUnwrap(try spec()["paths"] as? [String: Any])
        var ops = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                ops.insert("\(method.uppercased()) \(path)")
            }
        }
        return ops
    }

    func testTableListsExactlyTheOpenAPIOperations() throws {
        let table = Routes.table.map { "\($0.method.rawValue) \($0.path)" }
        XCTAssertEqual(table.count, Set(table).count, "an operation is listed twice in Routes.table")
        XCTAssertGreaterThanOrEqual(table.count, 18)
        XCTAssertEqual(Set(table), try specOperations())
    }

    /// Every entry reaches its handler: on an empty registry each answers with its own status
    /// (200, or a 4xx naming a field or a missing version), never the router's 404 or a 405.
    func testRouterServesEveryTableEntry() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("recall-table-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let registry = try Registry(store: try RegistryStore(home: home))
        let daemon = DaemonConfiguration(registry: registry, sessions: UISessions(token: ""), token: "")
        let app = buildApplication(daemon, transport: .unixSocket(path: home.appendingPathComponent("recall.sock").path))
        let fill = ["{ref}": "1", "{id}": "1", "{name}": "config.json"]
        try await app.test(.router) { client in
            for route in Routes.table {
                let uri = fill.reduce(route.path) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
                try await client.execute(uri: uri, method: route.method) { response in
                    let text = String(buffer: response.body)
                    XCTAssertNotEqual(response.status, .methodNotAllowed, "\(route.method) \(uri): \(text)")
                    XCTAssertFalse(text.contains("no endpoint"), "\(route.method) \(uri) is not registered: \(text)")
                }
            }
        }
    }

    /// Each reply type encodes exactly the properties of its schema in docs/openapi.yaml, nested
    /// objects and list items too (following `$ref` and `allOf`; free-form objects, which allow
    /// any property, are not compared).
    func testReplyTypesEncodeTheirSchemasFields() throws {
        let schemas = try XCTUnwrap((try spec()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let replies: [(schema: String, reply: any Encodable)] = [
            ("Health", HealthReply(version: "0.0.0")),
            ("InitResponse", InitReply(version: 1, method: "linear", scenario: "experts")),
            ("VerifyReport", VerifyReply(clean: false, manifests: 1, chunksChecked: 2, missing: ["base/w: chunk ab12"], corrupt: ["base/w: chunk cd34"], unreferencedChunks: 0)),
            ("GCReport", GCReply(removedManifests: 0, removedChunks: 1, removedBytes: 2, keptChunks: 3)),
            ("RollbackResponse", RollbackReply(head: 2)),
            ("TagResponse", TagReply(tag: "t", version: 2)),
            ("ExportResponse", ExportReply(version: 2, path: "/tmp/out")),
            ("FileList", FileListReply(files: ["model.safetensors"])),
            ("Upload", UploadReply(upload: "u1", bytes: 3, path: "/home/r/incoming/u1")),
            ("VersionSummary", ReplySamples.versionSummary),
            ("VersionDetail", ReplySamples.versionDetail),
            ("Status", ReplySamples.status),
            ("Settings", try XCTUnwrap(ReplySamples.status.settings)),
            ("Job", ReplySamples.job),
            ("Evaluations", ReplySamples.evaluations),
            ("EvalReport", ReplySamples.evalReport),
        ]
        for (name, reply) in replies {
            let schema = try XCTUnwrap(schemas[name] as? [String: Any], name)
            XCTAssertNotNil(schema["properties"], name)
            let encoded = try JSONSerialization.jsonObject(with: WireJSON.encode(reply))
            compare(encoded, with: schema, schemas: schemas, at: name)
        }
    }

    /// Fails where `value`'s object keys differ from the properties `schema` lists, recursively.
    func compare(_ value: Any, with schema: [String: Any], schemas: [String: Any], at path: String) {
        var schema = schema
        if let ref = schema["$ref"] as? String ?? ((schema["allOf"] as? [[String: Any]])?.first?["$ref"] as? String) {
            guard let target = schemas[String(ref.split(separator: "/").last ?? "")] as? [String: Any] else {
                return XCTFail("\(path): \(ref) is not a schema")
            }
            schema = target
        }
        if let object = value as? [String: Any], let properties = schema["properties"] as? [String: Any],
           schema["additionalProperties"] as? Bool != true {
            XCTAssertEqual(Set(object.keys), Set(properties.keys), path)
            for (key, item) in object where !(item is NSNull) {
                if let property = properties[key] as? [String: Any] { compare(item, with: property, schemas: schemas, at: "\(path).\(key)") }
            }
        } else if let list = value as? [Any], let items = schema["items"] as? [String: Any] {
            XCTAssertFalse(list.isEmpty, "\(path): an empty list checks nothing")
            for (i, item) in list.enumerated() { compare(item, with: items, schemas: schemas, at: "\(path)[\(i)]") }
        }
    }

    /// What the daemon encodes recallctl decodes back to the same value; a nil field is sent as
    /// `null`, never left out (clients read every key the schema requires).
    func testReplyTypesRoundTripAndSendNilAsNull() throws {
        func roundTrip<T: Codable & Equatable>(_ value: T) throws {
            XCTAssertEqual(try JSONDecoder().decode(T.self, from: WireJSON.encode(value)), value)
        }
        try roundTrip(ReplySamples.versionSummary)
        try roundTrip(ReplySamples.versionDetail)
        try roundTrip(ReplySamples.status)
        try roundTrip(ReplySamples.job)
        try roundTrip(ReplySamples.evaluations)
        try roundTrip(ReplySamples.evalReport)

        var base = ReplySamples.versionSummary
        (base.parent, base.task, base.gateReason) = (nil, nil, nil)
        let text = try WireJSON.string(base)
        for key in ["parent", "task", "gate_reason"] { XCTAssertTrue(text.contains("\"\(key)\":null"), "\(key) in \(text)") }
        var queued = ReplySamples.job
        (queued.phase, queued.error, queued.result, queued.startedAt, queued.finishedAt, queued.etaSeconds) = (nil, nil, nil, nil, nil, nil)
        let job = try XCTUnwrap(try JSONValue.parse(WireJSON.encode(queued)).objectValue)
        XCTAssertEqual(job.filter { $0.1.isNull }.map(\.0).sorted(), ["error", "eta_seconds", "finished_at", "phase", "result", "started_at"])
        try roundTrip(queued)
    }
}
