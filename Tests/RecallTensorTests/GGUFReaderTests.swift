import XCTest
@testable import RecallTensor
import RecallTestSupport

/// The GGUF reader and dequantiser against the `gguf` Python package (Fixtures/gguf, written by
/// tools/gen_gguf_fixtures.py): metadata of every value type, tensor tables, and F32 values
/// bit for bit as `gguf.quants.dequantize` gives them.
final class GGUFReaderTests: XCTestCase {
    static let expected: JSONValue = {
        try! JSONValue.parse(Data(contentsOf: Fixtures.url("gguf/expected.json")))
    }()

    /// A value the way the generator writes it: scalars plain, arrays as {array_of, items}.
    func fixtureJSON(_ v: GGUFValue) -> JSONValue {
        if case let .array(t, items) = v {
            return .object([("array_of", .string(t.name)), ("items", .array(items.map(fixtureJSON)))])
        }
        return v.jsonValue
    }

    func typeChain(_ v: GGUFValue) -> [String] {
        guard case let .array(t, items) = v else { return [v.type.name] }
        return ["ARRAY"] + (items.first.map(typeChain) ?? [t.name])
    }

    func checkLayout(_ file: GGUFFile, _ exp: JSONValue, file f: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(file.dataOffset, exp["data_offset"]?.intValue, file: f, line: line)
        XCTAssertEqual(file.alignment, exp["alignment"]?.intValue, file: f, line: line)
        let metadata = exp["metadata"]!.arrayValue!
        XCTAssertEqual(file.entries.map(\.key), metadata.map { $0["key"]!.stringValue! }, file: f, line: line)
        for m in metadata {
            let key = m["key"]!.stringValue!
            guard let v = file[key] else { XCTFail("missing \(key)", file: f, line: line); continue }
            XCTAssertEqual(fixtureJSON(v), m["value"]!, key, file: f, line: line)
            XCTAssertEqual(typeChain(v), m["types"]!.arrayValue!.map { $0.stringValue! }, key, file: f, line: line)
        }
        let tensors = exp["tensors"]!.arrayValue!
        XCTAssertEqual(file.tensors.map(\.name), tensors.map { $0["name"]!.stringValue! }, file: f, line: line)
        for (t, e) in zip(file.tensors, tensors) {
            XCTAssertEqual(t.type.name, e["ggml_type"]?.stringValue, t.name, file: f, line: line)
            XCTAssertEqual(Int(t.type.rawValue), e["type_id"]?.intValue, t.name, file: f, line: line)
            XCTAssertEqual(t.dimensions, e["ne"]!.arrayValue!.map { $0.intValue! }, t.name, file: f, line: line)
            XCTAssertEqual(t.offset, e["offset"]?.intValue, t.name, file: f, line: line)
            XCTAssertEqual(t.byteCount, e["n_bytes"]?.intValue, t.name, file: f, line: line)
        }
    }

    func testQuantsMetadataAndTensorTable() throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/quants.gguf"))
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.architecture, "quanttest")
        checkLayout(file, Self.expected["quants"]!)
        // A few values spelled out, so a fixture regeneration that changed them is noticed.
        XCTAssertEqual(file["test.u64"], .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(file["test.i8"], .int8(-100))
        XCTAssertEqual(file["test.string"]?.stringValue, "h\u{e9}llo, w\u{f6}rld \u{2603} \u{1F600}")
        XCTAssertEqual(file["test.arr_nested"], .array(.array, [.array(.int32, [.int32(1), .int32(2), .int32(3)]),
                                                               .array(.int32, [.int32(4)]), .array(.int32, [.int32(5), .int32(6)])]))
        XCTAssertEqual(file["test.arr_str"]?.stringArray, ["a", "", "\u{fc}ber", "x y"])
        XCTAssertEqual(file["test.bool_false"]?.boolValue, false)
    }

    func testDequantisationMatchesGGUFPackageBitForBit() throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/quants.gguf"))
        let golden = try SafeTensorsFile(url: Fixtures.url("gguf/quants.expected.safetensors"))
        let supported = Self.expected["quants"]!["supported"]!.arrayValue!.map { $0.stringValue! }
        XCTAssertEqual(Set(supported), Set(golden.tensorNames))
        var seenTypes = Set<String>()
        for name in supported {
            let info = try XCTUnwrap(file.tensorInfo(named: name))
            seenTypes.insert(info.type.name)
            let want = try golden.tensor(named: name)
            let got = try file.tensor(named: name)
            XCTAssertEqual(got.shape, want.shape, name)
            let g = try got.toFloat32(), w = try want.toFloat32()
            XCTAssertEqual(g.count, w.count, name)
            var mismatches = 0
            for i in 0..<min(g.count, w.count) where g[i].bitPattern != w[i].bitPattern { mismatches += 1 }
            XCTAssertEqual(mismatches, 0, "\(name) (\(info.type.name)): \(mismatches) values differ from gguf.quants.dequantize")
        }
        XCTAssertEqual(seenTypes, ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"])
    }

    func testPlainTensorsAreViewsWithTheirOwnType() throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/quants.gguf"))
        let f16 = try file.tensor(named: "f16")
        XCTAssertEqual(f16.dtype, .f16)
        XCTAssertEqual(f16.shape, [5, 9])
        XCTAssertEqual(try file.tensor(named: "bf16").dtype, .bf16)
        XCTAssertEqual(try file.tensor(named: "q4_1").dtype, .f32)
        let infos = Dictionary(uniqueKeysWithValues: file.infos.map { ($0.name, $0) })
        XCTAssertEqual(infos["q8_0_3d"], TensorInfo(name: "q8_0_3d", dtype: .f32, shape: [2, 3, 32]))
        XCTAssertEqual(infos["f32_vec"]?.shape, [10])
    }

    func testUnsupportedQuantTypeIsNamed() throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/quants.gguf"))
        XCTAssertEqual(file.tensorInfo(named: "iq4_nl")?.type.name, "IQ4_NL")
        assertRecallError(["quants.gguf", "tensor \"iq4_nl\"", "IQ4_NL", "cannot be dequantised", "Q4_K"]) {
            _ = try file.tensor(named: "iq4_nl")
        }
        assertRecallError(["quants.gguf", "no tensor named \"nope\""]) { _ = try file.tensor(named: "nope") }
    }

    func testCustomAlignment() throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/aligned64.gguf"))
        let exp = Self.expected["aligned64"]!
        checkLayout(file, exp)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.dataOffset % 64, 0)
        for name in ["a", "b", "c"] {
            let want = exp["values"]![name]!.arrayValue!.map { Float($0.doubleValue!) }
            XCTAssertEqual(try file.tensor(named: name).converted(to: .f32).toFloat32(), want, name)
        }
    }

    func testVersion2ReadsLikeVersion3() throws {
        var bytes = [UInt8](try Data(contentsOf: Fixtures.url("gguf/quants.gguf")))
        bytes[4] = 2
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("v2.gguf")
        try Data(bytes).write(to: url)
        let file = try GGUFFile(url: url)
        XCTAssertEqual(file.version, 2)
        XCTAssertEqual(file.tensors.count, try GGUFFile(url: Fixtures.url("gguf/quants.gguf")).tensors.count)
        XCTAssertEqual(try file.tensor(named: "q5_1").toFloat32(),
                       try SafeTensorsFile(url: Fixtures.url("gguf/quants.expected.safetensors")).tensor(named: "q5_1").toFloat32())
    }

    /// Random blocks of every quantised type through the SIMD kernels against a plain scalar
    /// transcription of ggml's reference loops (dequantize_row_* in ggml-quants.c).
    func testKernelsAgreeWithScalarReference() throws {
        var rng = SeededGenerator(seed: 42)
        for type in [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K] {
            let bs = type.blockSize!, ts = type.typeSize!
            let blocks = 37
            var raw = (0..<(blocks * ts)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Keep the float16 scales finite and small.
            for b in 0..<blocks {
                for off in ScalarReference.halfOffsets(type) {
                    let h = FloatConversion.f32BitsToF16(Float.random(in: -0.05...0.05, using: &rng).bitPattern)
                    raw[b * ts + off] = UInt8(h & 0xFF)
                    raw[b * ts + off + 1] = UInt8(h >> 8)
                }
            }
            var got = [Float](repeating: .nan, count: blocks * bs)
            raw.withUnsafeBytes { src in
                got.withUnsafeMutableBufferPointer { GGUFDequantizer.dequantize(src.baseAddress!, type: type, count: blocks * bs, into: $0.baseAddress!) }
            }
            let want = ScalarReference.dequantize(raw, type: type, blocks: blocks)
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), type.name)
        }
    }
}

/// ggml's scalar dequantisation loops, written out independently of the SIMD kernels.
enum ScalarReference {
    static func halfOffsets(_ t: GGMLType) -> [Int] {
        switch t {
        case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
        case .q6_K: return [208]
        default: return [0]
        }
    }

    static func half(_ b: [UInt8], _ o: Int) -> Float {
        Float(bitPattern: FloatConversion.f16ToF32Bits(UInt16(b[o]) | UInt16(b[o + 1]) << 8))
    }

    static func dequantize(_ raw: [UInt8], type: GGMLType, blocks: Int) -> [Float] {
        let bs = type.blockSize!, ts = type.typeSize!
        var y = [Float](repeating: 0, count: blocks * bs)
        for i in 0..<blocks {
            let x = Array(raw[(i * ts)..<((i + 1) * ts)])
            let o = i * bs
            switch type {
            case .q8_0:
                let d = half(x, 0)
                for j in 0..<32 { y[o + j] = Float(Int8(bitPattern: x[2 + j])) * d }
            case .q4_0:
                let d = half(x, 0)
                for j in 0..<16 {
                    y[o + j] = d * Float(Int(x[2 + j] & 0x0F) - 8)
                    y[o + j + 16] = d * Float(Int(x[2 + j] >> 4) - 8)
                }
            case .q4_1:
                let d = half(x, 0), m = half(x, 2)
                for j in 0..<16 {
                    y[o + j] = d * Float(x[4 + j] & 0x0F) + m
                    y[o + j + 16] = d * Float(x[4 + j] >> 4) + m
                }
            case .q5_0, .q5_1:
                let d = half(x, 0), m: Float = type == .q5_1 ? half(x, 2) : 0
                let h = type == .q5_1 ? 4 : 2
                let qh = UInt32(x[h]) | UInt32(x[h + 1]) << 8 | UInt32(x[h + 2]) << 16 | UInt32(x[h + 3]) << 24
                for j in 0..<16 {
                    let xh0 = UInt8(((qh >> j) << 4) & 0x10), xh1 = UInt8((qh >> (j + 12)) & 0x10)
                    let q0 = Int((x[h + 4 + j] & 0x0F) | xh0), q1 = Int((x[h + 4 + j] >> 4) | xh1)
                    if type == .q5_0 {
                        y[o + j] = d * Float(q0 - 16); y[o + j + 16] = d * Float(q1 - 16)
                    } else {
                        y[o + j] = d * Float(q0) + m; y[o + j + 16] = d * Float(q1) + m
                    }
                }
            case .q4_K, .q5_K:
                let d = half(x, 0), dmin = half(x, 2)
                let sc = Array(x[4..<16])
                func scaleMin(_ j: Int) -> (Float, Float) {
                    if j < 4 { return (Float(sc[j] & 63), Float(sc[j + 4] & 63)) }
                    return (Float((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4)), Float((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4)))
                }
                let q = type == .q4_K ? Array(x[16..<144]) : Array(x[48..<176])
                let qh = type == .q5_K ? Array(x[16..<48]) : []
                var u1: UInt8 = 1, u2: UInt8 = 2, sb = 0, out = o, qi = 0
                for _ in stride(from: 0, to: 256, by: 64) {
                    let (s1, m1) = scaleMin(sb), (s2, m2) = scaleMin(sb + 1)
                    let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
                    for l in 0..<32 {
                        let hi: UInt8 = type == .q5_K && (qh[l] & u1) != 0 ? 16 : 0
                        y[out] = d1 * Float((q[qi + l] & 0xF) + hi) - mm1; out += 1
                    }
                    for l in 0..<32 {
                        let hi: UInt8 = type == .q5_K && (qh[l] & u2) != 0 ? 16 : 0
                        y[out] = d2 * Float((q[qi + l] >> 4) + hi) - mm2; out += 1
                    }
                    qi += 32; sb += 2; u1 <<= 2; u2 <<= 2
                }
            case .q6_K:
                let d = half(x, 208)
                for n in 0..<2 {
                    let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n, yo = o + 128 * n
                    for l in 0..<32 {
                        let isc = l / 16
                        let q1 = Int8(bitPattern: (x[ql + l] & 0xF) | (((x[qh + l] >> 0) & 3) << 4)) - 32
                        let q2 = Int8(bitPattern: (x[ql + l + 32] & 0xF) | (((x[qh + l] >> 2) & 3) << 4)) - 32
                        let q3 = Int8(bitPattern: (x[ql + l] >> 4) | (((x[qh + l] >> 4) & 3) << 4)) - 32
                        let q4 = Int8(bitPattern: (x[ql + l + 32] >> 4) | (((x[qh + l] >> 6) & 3) << 4)) - 32
                        func s(_ k: Int) -> Float { Float(Int8(bitPattern: x[sc + k])) }
                        y[yo + l] = d * s(isc) * Float(q1)
                        y[yo + l + 32] = d * s(isc + 2) * Float(q2)
                        y[yo + l + 64] = d * s(isc + 4) * Float(q3)
                        y[yo + l + 96] = d * s(isc + 6) * Float(q4)
                    }
                }
            default:
                fatalError()
            }
        }
        return y
    }
}
