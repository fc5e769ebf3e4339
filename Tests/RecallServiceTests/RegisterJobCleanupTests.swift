import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// What the end of a GGUF job removes: never the user's file; only the imported copy an older
/// daemon made under incoming/import-*.
final class RegisterJobCleanupTests: XCTestCase {
    func job(resolved: String, format: ModelFormat) throws -> RegisterJob {
        let request = try RegisterRequest(json: .object([("model", .string("/data/task.gguf")), ("task", .string("t")),
                                                         ("samples", .string("{\"text\": \"a\"}\n"))]))
        return RegisterJob(request: request, samples: [], resolved: URL(fileURLWithPath: resolved), format: format,
                           trainedFromVersion: 1, fingerprint: nil)
    }

    func testAGGUFFileIsNeverRemovedItsOldImportIs() throws {
        let incoming = URL(fileURLWithPath: "/home/r/incoming")
        XCTAssertEqual(try job(resolved: "/data/task.gguf", format: .gguf).filesToRemove(incoming: incoming), [])
        XCTAssertEqual(try job(resolved: "/home/r/incoming/import-1234", format: .gguf).filesToRemove(incoming: incoming),
                       [URL(fileURLWithPath: "/home/r/incoming/import-1234")])
        XCTAssertEqual(try job(resolved: "/home/r/incoming/import-1234", format: .file).filesToRemove(incoming: incoming), [])
    }
}
