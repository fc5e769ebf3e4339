import Foundation
import XCTest
import Yams
@testable import RecallTensor

/// docs/openapi.yaml and the running daemon agree: live responses carry every field the spec
/// marks required (with the spec's types). That the spec lists exactly the daemon's routes is
/// checked against `Routes.table` itself (RecallRegistryTests/RouteTableTests).
final class OpenAPIConformanceTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func spec() throws -> [String: Any] {
        let text = try String(contentsOf: Self.repo.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        return try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any])
    }

    /// Follows `$ref`s into components.
    func resolve(_ schema: Any?, _ root: [String: Any]) -> [String: Any] {
        guard var s = schema as? [String: Any] else { return [:] }
        while let ref = s["$ref"] as? String {
            var node: Any = root
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] as Any }
            s = node as? [String: Any] ?? [:]
        }
        return s
    }

    /// Checks `value` against the schema's required fields and types, recursively.
    func check(_ value: JSONValue, _ schema: [String: Any], _ root: [String: Any], at path: String) {
        let nullable = schema["nullable"] as? Bool ?? false
        if value.isNull { XCTAssertTrue(nullable || schema.isEmpty, "\(path) is null but not nullable"); return }
        switch schema["type"] as? String {
        case "object":
            XCTAssertNotNil(value.objectValue, "\(path) should be an object")
            let props = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] {
                guard let member = value[key] else { XCTFail("\(path).\(key) is required by the spec but missing"); continue }
                check(member, resolve(props[key], root), root, at: "\(path).\(key)")
            }
        case "array":
            guard let items = value.arrayValue else { XCTFail("\(path) should be an array"); return }
            for (i, item) in items.enumerated() { check(item, resolve(schema["items"], root), root, at: "\(path)[\(i)]") }
        case "string": XCTAssertNotNil(value.stringValue, "\(path) should be a string")
        case "integer": XCTAssertNotNil(value.intValue, "\(path) should be an integer")
        case "number": XCTAssertNotNil(value.doubleValue, "\(path) should be a number")
        case "boolean": XCTAssertNotNil(value.boolValue, "\(path) should be a boolean")
        default: break
        }
    }

    func testLiveResponsesMatchTheirSchemas() throws {
        let root = try spec()
        let paths = try XCTUnwrap(root["paths"] as? [String: Any])
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--method", "recall", "--opt", "clusters=3", "--opt", "lambda=1"])
        try daemon.ok(["register", try models.expert("a", seed: 1).path, "--task", "a", "--samples", try models.samples("a").path])
        try daemon.ok(["tag", "first", "2"])
        let fill = ["{ref}": "2", "{id}": "1", "{name}": "config.json"]
        var checked = 0
        for (path, item) in paths {
            guard let get = (item as? [String: Any])?["get"] as? [String: Any] else { continue }
            let target = fill.reduce(path) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
            let response = try unixGET(daemon.socket, target)
            let parts = response.components(separatedBy: "\r\n\r\n")
            XCTAssertTrue(parts[0].hasPrefix("HTTP/1.1 200"), "\(target): \(parts[0])")
            let ok = (get["responses"] as? [String: Any])?["200"] as? [String: Any]
            guard let schema = (((ok?["content"] as? [String: Any])?["application/json"]) as? [String: Any])?["schema"] else { continue }
            // The JSON routes answer with Content-Length bodies, so the rest is the body.
            let body = parts.dropFirst().joined(separator: "\r\n\r\n")
            let json = try JSONValue.parse(Data(body.utf8), rejectDuplicateKeys: false)
            check(json, resolve(schema, root), root, at: target)
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 7, "every JSON GET route was exercised")
    }
}
