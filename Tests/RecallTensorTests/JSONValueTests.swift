import XCTest
@testable import RecallTensor

final class JSONValueTests: XCTestCase {
    func parse(_ s: String) throws -> JSONValue { try JSONValue.parse(Data(s.utf8)) }

    func testKeepsKeyOrderAndExactIntegers() throws {
        let v = try parse(#"{"b": 1, "a": [9007199254740993, -0.5e1, true, null], "c": "x\u00e9\ud83d\ude00\n"}"#)
        XCTAssertEqual(v.objectValue?.map(\.0), ["b", "a", "c"])
        XCTAssertEqual(v["a"]?.arrayValue?[0].intValue, 9_007_199_254_740_993)
        XCTAssertEqual(v["a"]?.arrayValue?[1].doubleValue, -5)
        XCTAssertEqual(v["c"]?.stringValue, "xé😀\n")
        XCTAssertEqual(try parse(v.serialized()), v)
        XCTAssertEqual(try parse(v.serialized(pretty: true)), v)
    }

    func testRejectsDuplicatesAndMalformedInput() {
        for bad in [#"{"a":1,"a":2}"#, "{", "[1,]", #"{"a" 1}"#, "01x", #""\ud800""#, "tru", #"{"a":1} x"#, "\"\u{01}\""] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
        XCTAssertNoThrow(try JSONValue.parse(Data(#"{"a":1,"a":2}"#.utf8), rejectDuplicateKeys: false))
    }

    func testDeepNestingIsAnErrorNotACrash() {
        XCTAssertThrowsError(try parse(String(repeating: "[", count: 100_000)))
    }

    func testEscapesControlCharactersWhenWriting() throws {
        let v = JSONValue.object([("k\"\\", .string("a\u{01}\t"))])
        XCTAssertEqual(v.serialized(), #"{"k\"\\":"a\u0001\t"}"#)
    }
}
