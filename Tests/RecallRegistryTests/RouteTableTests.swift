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

    /// Each reply type encodes exactly the properties of its schema in docs/openapi.yaml.
    func testReplyTypesEncodeTheirSchemasFields() throws {
        let schemas = try XCTUnwrap((try spec()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let replies: [(schema: String, reply: any Encodable)] = [
            ("Health", HealthReply(version: "0.0.0")),
            ("InitResponse", InitReply(version: 1, method: "linear", scenario: "experts")),
            ("VerifyReport", VerifyReply(clean: true, manifests: 1, chunksChecked: 2, missing: [], corrupt: [], unreferencedChunks: 0)),
            ("GCReport", GCReply(removedManifests: 0, removedChunks: 1, removedBytes: 2, keptChunks: 3)),
            ("RollbackResponse", RollbackReply(head: 2)),
            ("TagResponse", TagReply(tag: "t", version: 2)),
            ("ExportResponse", ExportReply(version: 2, path: "/tmp/out")),
            ("FileList", FileListReply(files: ["model.safetensors"])),
        ]
        for (name, reply) in replies {
            let properties = try XCTUnwrap((schemas[name] as? [String: Any])?["properties"] as? [String: Any], name)
            let encoded = try XCTUnwrap(try JSONSerialization.jsonObject(with: JSONEncoder().encode(reply)) as? [String: Any], name)
            XCTAssertEqual(Set(encoded.keys), Set(properties.keys), name)
        }
    }
}
