import Foundation
import XCTest
import RecallModel
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor

/// The tokenizer a job builds from the base's stored bytes encodes exactly as the one loaded
/// from the base's directory (tokenizer_config.json's special tokens included).
final class StoredTokenizerTests: XCTestCase {
    func testTokenizerFromStoredBytesMatchesTheDirectory() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("recall-tok-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let baseDir = InProcessRouterTests.fixtures.appendingPathComponent("base")
        let store = try RegistryStore(home: home)
        let model = try store.putModel(try Checkpoint.open(baseDir), kind: .base, name: "base").model
        let settings = RegistrySettings(baseModelID: model.id, method: .init(rawValue: "linear")!, scenario: .experts, options: [:], gatePoints: nil, evalMetric: .accuracy)
        let stored = try RegistryBase(store: store, settings: settings).tokenizer()
        let onDisk = try Tokenizer(directory: baseDir)
        XCTAssertEqual(stored.bosTokenID, onDisk.bosTokenID)
        XCTAssertEqual(stored.eosTokenID, onDisk.eosTokenID)
        for text in ["your round butter looks yellow", "  two  spaces\nand a line", "ünïcödé 123", ""] {
            XCTAssertEqual(stored.encode(text), onDisk.encode(text), text)
            XCTAssertFalse(stored.encode(text + "x").isEmpty)
        }
    }
}
