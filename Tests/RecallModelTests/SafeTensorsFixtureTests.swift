import XCTest
@testable import RecallTensor
@testable import RecallModel
import RecallTestSupport

/// Files written by the Python `safetensors` library and `transformers` (tools/gen_safetensors_fixtures.py),
/// read back by us and compared value by value.
final class SafeTensorsFixtureTests: XCTestCase {
    func testEveryDTypeMatchesThePythonWriter() throws {
        let expected = try XCTUnwrap(Fixtures.json("safetensors/dtypes.expected.json") as? [String: Any])
        let file = try SafeTensorsFile(url: Fixtures.url("safetensors/dtypes.safetensors"))
        XCTAssertEqual(file.headerLength, expected["header_len"] as? Int)
        XCTAssertEqual(file.dataStart, expected["data_start"] as? Int)
        let meta = Dictionary(uniqueKeysWithValues: file.metadata.map { ($0.0, $0.1) })
        XCTAssertEqual(meta, expected["metadata"] as? [String: String])
        let tensors = try XCTUnwrap(expected["tensors"] as? [[String: Any]])
        XCTAssertEqual(file.infos.map(\.name), tensors.map { $0["name"] as! String }, "file order")
        // Foundation's JSON parser rounds some doubles wrongly on Linux, so values go through ours.
        let exact = try JSONValue.parse(Data(contentsOf: Fixtures.url("safetensors/dtypes.expected.json")))
        var checkedFloats = 0
        for (n, t) in tensors.enumerated() {
            let name = t["name"] as! String
            let view = try file.tensor(named: name)
            XCTAssertEqual(view.dtype.rawValue, t["dtype"] as? String, name)
            XCTAssertEqual(view.shape, t["shape"] as? [Int], name)
            let i = file.infos.firstIndex { $0.name == name }!
            XCTAssertEqual([file.dataOffsets[i].lowerBound, file.dataOffsets[i].upperBound], t["data_offsets"] as? [Int], name)
            XCTAssertEqual(view.copyBytes(), hexBytes(t["hex"] as! String), name)
            guard view.dtype.isComputeFloat, let values = exact["tensors"]?.arrayValue?[n]["values"]?.arrayValue else { continue }
            let ours = try view.toFloat32()
            XCTAssertEqual(ours.count, values.count, name)
            for (k, v) in values.enumerated() {
                switch v {
                case .string("nan"): XCTAssertTrue(ours[k].isNaN, "\(name)[\(k)]")
                case .string("inf"): XCTAssertEqual(ours[k], .infinity, "\(name)[\(k)]")
                case .string("-inf"): XCTAssertEqual(ours[k], -.infinity, "\(name)[\(k)]")
                case let .number(d, _): XCTAssertEqual(Double(ours[k]), d, "\(name)[\(k)]")
                default: XCTFail("unexpected value \(v)")
                }
                checkedFloats += 1
            }
        }
        XCTAssertGreaterThan(checkedFloats, 20)
    }

    /// Our kernels against torch's conversions, case by case (ties, subnormals, overflow, NaN).
    func testConversionsMatchTorch() throws {
        for name in ["bf16_to_f32", "f16_to_f32", "f32_to_bf16", "f32_to_f16"] {
            let spec = try XCTUnwrap(Fixtures.json("safetensors/\(name).expected.json") as? [String: Any])
            let cases = try XCTUnwrap(spec["cases"] as? [[String: Any]])
            XCTAssertGreaterThan(cases.count, 10, name)
            for c in cases {
                let input = UInt32(c["input"] as! String, radix: 16)!
                let expected = UInt32(c["expected"] as! String, radix: 16)!
                let isNaN = c["nan"] as! Bool
                let got: UInt32
                let gotIsNaN: Bool
                switch name {
                case "bf16_to_f32", "f16_to_f32":
                    var h = UInt16(input), f: Float = 0
                    FloatConversion.widen16(&h, dtype: name.hasPrefix("bf16") ? .bf16 : .f16, into: &f, count: 1)
                    got = f.bitPattern; gotIsNaN = f.isNaN
                default:
                    var f = Float(bitPattern: input), h: UInt16 = 0
                    let dtype: DType = name.hasSuffix("bf16") ? .bf16 : .f16
                    FloatConversion.narrow16(&f, to: dtype, into: &h, count: 1)
                    got = UInt32(h)
                    gotIsNaN = dtype == .bf16 ? Float(bitPattern: UInt32(h) << 16).isNaN : Float16(bitPattern: h).isNaN
                }
                if isNaN {
                    XCTAssertTrue(gotIsNaN, "\(name) \(c["name"]!): NaN must stay NaN")
                } else {
                    XCTAssertEqual(got, expected, "\(name) \(c["name"]!)")
                }
            }
        }
    }

    func testTransformersShardedDirectory() throws {
        let dir = Fixtures.url("hf-tiny-llama-sharded")
        let expected = try XCTUnwrap(Fixtures.json("hf-tiny-llama-sharded/expected.json") as? [String: Any])
        let checkpoint = try Checkpoint.open(dir)
        XCTAssertTrue(checkpoint.isSharded)
        let sharded = try XCTUnwrap(checkpoint.weights as? ShardedCheckpoint)
        XCTAssertGreaterThanOrEqual(sharded.shards.count, 2)
        let tensors = try XCTUnwrap(expected["tensors"] as? [[String: Any]])
        XCTAssertEqual(Set(checkpoint.weights.tensorNames), Set(tensors.map { $0["name"] as! String }))
        for t in tensors {
            let name = t["name"] as! String
            let view = try checkpoint.weights.tensor(named: name)
            XCTAssertEqual(view.dtype.rawValue, t["dtype"] as? String)
            XCTAssertEqual(view.shape, t["shape"] as? [Int])
            XCTAssertEqual(view.sha256, t["sha256"] as? String, name)
            XCTAssertEqual(sharded.shardFile(of: name), t["file"] as? String, name)
        }
        XCTAssertEqual(checkpoint.sidecarFiles.map(\.lastPathComponent), ["generation_config.json"])
        XCTAssertEqual(try checkpoint.modelConfig().numHiddenLayers, 2)
    }

    func testTransformersBF16Directory() throws {
        let dir = Fixtures.url("hf-tiny-llama")
        let expected = try XCTUnwrap(Fixtures.json("hf-tiny-llama/expected.json") as? [String: Any])
        let checkpoint = try Checkpoint.open(dir)
        XCTAssertFalse(checkpoint.isSharded)
        for t in try XCTUnwrap(expected["tensors"] as? [[String: Any]]) {
            let view = try checkpoint.weights.tensor(named: t["name"] as! String)
            XCTAssertEqual(view.dtype, .bf16)
            XCTAssertEqual(view.sha256, t["sha256"] as? String)
        }
    }

    /// What we write, re-read by us, equals what transformers wrote, tensor by tensor; and the
    /// directory keeps config and side files (transformers' own loading of our output is checked by
    /// tools/check_written_checkpoint.py, which needs torch).
    func testRewritingTransformersOutputKeepsEveryTensor() throws {
        let dir = try makeTempDirectory(self)
        let source = try Checkpoint.open(Fixtures.url("hf-tiny-llama-sharded"))
        try CheckpointWriter(maxShardBytes: 12_000).write(source, to: dir.appendingPathComponent("out"))
        let back = try Checkpoint.open(dir.appendingPathComponent("out"))
        XCTAssertTrue(back.isSharded)
        for info in source.weights.infos {
            XCTAssertEqual(try back.weights.tensor(named: info.name).sha256, try source.weights.tensor(named: info.name).sha256)
        }
        XCTAssertEqual(back.configJSON, source.configJSON)
        XCTAssertEqual(back.sidecarFiles.map(\.lastPathComponent), ["generation_config.json"])
    }
}
