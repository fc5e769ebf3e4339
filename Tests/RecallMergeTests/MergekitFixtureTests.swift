import XCTest
@testable import RecallTensor
@testable import RecallMerge
import RecallTestSupport

/// Our baseline merges against mergekit's own output on the same inputs
/// (tools/gen_merge_fixtures.py; cases.json is the single description both sides use).
final class MergekitFixtureTests: XCTestCase {
    func testEveryCaseMatchesMergekit() throws {
        let root = Fixtures.url("merge")
        let spec = try JSONValue.parse(Data(contentsOf: root.appendingPathComponent("cases.json")))
        let cases = try XCTUnwrap(spec["cases"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        func load(_ name: String) throws -> MergeModel {
            MergeModel(name: name, source: try Checkpoint.open(root.appendingPathComponent("models/\(name)")).weights)
        }
        func parameters(_ json: JSONValue?) throws -> [String: ParameterSetting] {
            var out: [String: ParameterSetting] = [:]
            for (k, v) in json?.objectValue ?? [] { out[k] = try ParameterSetting(json: v, field: k) }
            return out
        }
        var compared = 0
        for c in cases {
            let name = try XCTUnwrap(c["name"]?.stringValue)
            let method = try MergeMethods.named(try XCTUnwrap(c["method"]?.stringValue))
            let base = try c["base"]?.stringValue.map(load)
            let models = try XCTUnwrap(c["models"]?.arrayValue).map { m -> MergeModel in
                var model = try load(try XCTUnwrap(m["model"]?.stringValue))
                model.parameters = try parameters(m["parameters"])
                return model
            }
            let outDType: DType = c["dtype"]?.stringValue == "bfloat16" ? .bf16 : .f32
            let merged = try MergedCheckpoint(MergeConfiguration(method: method, base: base, models: models,
                                                                 parameters: try parameters(c["parameters"]), outputDType: outDType))
            let expected = try SafeTensorsFile(url: root.appendingPathComponent(try XCTUnwrap(c["output"]?.stringValue)))
            XCTAssertEqual(Set(merged.tensorNames), Set(expected.tensorNames), name)
            for info in expected.infos {
                let ours = try merged.tensor(named: info.name)
                let theirs = try expected.tensor(named: info.name)
                XCTAssertEqual(ours.dtype, theirs.dtype, "\(name) \(info.name)")
                let a = try ours.toFloat32(), b = try theirs.toFloat32()
                for k in a.indices {
                    if outDType == .bf16 {
                        // mergekit computes in bf16 arithmetic, we in f32 rounded once: within one bf16 ulp.
                        let ulp = Float(bitPattern: (b[k].bitPattern & 0x7F80_0000)) * 0x1p-7
                        XCTAssertLessThanOrEqual(abs(a[k] - b[k]), max(ulp, 1e-30), "\(name) \(info.name)[\(k)]")
                    } else {
                        XCTAssertLessThanOrEqual(abs(a[k] - b[k]), 1e-6 * max(1, abs(b[k])), "\(name) \(info.name)[\(k)]: \(a[k]) vs \(b[k])")
                    }
                }
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 100)
    }
}
