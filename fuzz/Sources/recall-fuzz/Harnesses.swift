// Every parser of user uploads and stored bytes, one harness each (issue #20): libFuzzer drives
// them (main.swift), and make test replays fuzz/corpus through them (Tests/FuzzReplayTests/
// FuzzCorpusReplayTests.swift links this file).
// The harness is picked by RECALL_FUZZ_HARNESS (fuzz/run.sh sets it); `Harnesses.all` lists them.
// Errors thrown by a parser are the expected answer to bad input; a trap, a sanitizer report, a
// hang or runaway memory is a finding.
import Foundation
@testable import RecallTensor
@testable import RecallModel
@testable import RecallMerge
@testable import RecallStore

typealias Harness = (UnsafeRawBufferPointer) -> Void

enum Harnesses {
    static let all: [String: Harness] = [
        "json": json,
        "safetensors": safetensors,
        "safetensors-index": safetensorsIndex,
        "gguf": gguf,
        "gguf-quant": ggufQuant,
        "tokenizer": tokenizer,
        "peft": peft,
        "mergekit": mergekit,
        "samples": samples,
        "chunk": chunk,
        "bf16": bf16,
        "rans": rans,
        "manifest": manifest,
        "config": config,
    ]

    // MARK: Files for parsers that take a URL (tmpfs, one directory per process)

    static let dir: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let url = URL(fileURLWithPath: base).appendingPathComponent("recall-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Harnesses.dir) }
        return url
    }()

    static func file(_ name: String, _ bytes: UnsafeRawBufferPointer) -> URL {
        let url = dir.appendingPathComponent(name)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot write \(url.path)")
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "cannot write \(url.path)")
            done += n
        }
        close(fd)
        return url
    }

    /// Reads every tensor a source hands out (small ones widened to F32), as a consumer would.
    static func touch(_ source: any TensorSource, limit: Int = 1 << 16) {
        for info in source.infos.prefix(64) {
            guard let view = try? source.tensor(named: info.name) else { continue }
            if view.elementCount <= limit && view.dtype.isComputeFloat {
                _ = try? view.toFloat32()
            } else {
                _ = view.bytes.first
            }
        }
        _ = source.metadata
    }

    // MARK: Harnesses

    static func json(_ b: UnsafeRawBufferPointer) {
        if let v = try? JSONValue.parse(b) { _ = v.serialized() }
        _ = try? JSONValue.parse(b, rejectDuplicateKeys: false)
    }

    static func safetensors(_ b: UnsafeRawBufferPointer) {
        guard let f = try? SafeTensorsFile(url: file("model.safetensors", b)) else { return }
        touch(f)
    }

    /// An index JSON next to two valid shards (`a.safetensors`, `b.safetensors`) written once.
    static let shardsWritten: Bool = {
        for (name, tensors) in [("a.safetensors", ["x": 4, "y": 2]), ("b.safetensors", ["z": 3])] {
            var header = "{"
            var at = 0
            for (i, (t, n)) in tensors.sorted(by: { $0.key < $1.key }).enumerated() {
                header += (i > 0 ? "," : "") + "\"\(t)\":{\"dtype\":\"F32\",\"shape\":[\(n)],\"data_offsets\":[\(at),\(at + 4 * n)]}"
                at += 4 * n
            }
            header += "}"
            var bytes = [UInt8](repeating: 0, count: 8)
            let h = Array(header.utf8)
            for k in 0..<8 { bytes[k] = UInt8(truncatingIfNeeded: h.count >> (8 * k)) }
            bytes += h + [UInt8](repeating: 0, count: at)
            bytes.withUnsafeBytes { _ = file(name, $0) }
        }
        return true
    }()

    static func safetensorsIndex(_ b: UnsafeRawBufferPointer) {
        precondition(shardsWritten)
        guard let c = try? ShardedCheckpoint(indexURL: file("model.safetensors.index.json", b)) else { return }
        touch(c)
    }

    static func gguf(_ b: UnsafeRawBufferPointer) {
        guard let g = try? GGUFFile(url: file("model.gguf", b)) else { return }
        _ = g.metadata
        _ = g.architecture
        for info in g.tensors.prefix(64) where info.elementCount <= 1 << 16 {
            _ = try? g.tensor(info)
        }
        _ = try? GGUFTokenizerBuilder.build(from: g)
        if let llama = try? GGUFLlamaModel(file: g) {
            touch(llama)
            _ = llama.configJSON().serialized()
        }
    }

    /// First byte picks a dequantisable type, the rest is its blocks (whole blocks only, as GGUFFile
    /// guarantees).
    static func ggufQuant(_ b: UnsafeRawBufferPointer) {
        guard b.count >= 1 else { return }
        let types = GGMLType.dequantizable
        let type = types[Int(b[0]) % types.count]
        let body = UnsafeRawBufferPointer(rebasing: b[1...])
        let count: Int
        if let bs = type.blockSize, let ts = type.typeSize, bs > 1 {
            count = body.count / ts * bs
        } else {
            count = body.count / (type.floatDType?.byteSize ?? 8)
        }
        guard count > 0 else { return }
        let src = UnsafeMutableRawBufferPointer.allocate(byteCount: body.count, alignment: 64)
        defer { src.deallocate() }
        src.copyMemory(from: body)
        let dst = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { dst.deallocate() }
        GGUFDequantizer.dequantize(src.baseAddress!, type: type, count: count, into: dst)
    }

    static let tokenizerText = "Hello world! It's 2026, naïve café — 你好 🙂\n\tcode: let x = 42;"

    static func tokenizer(_ b: UnsafeRawBufferPointer) {
        let data = Data(b)
        guard let json = try? TokenizerJSON.parse(data), let core = try? TokenizerCore(json: json, config: nil) else { return }
        let ids = core.encode(tokenizerText, addSpecialTokens: true)
        _ = core.decode(ids, skipSpecialTokens: false)
        _ = core.decode(Array(0..<min(core.tokenIDs.count + 2, 300)), skipSpecialTokens: true)
        // The document's own first bytes as text too: strings the tokenizer itself names.
        _ = core.encode(String(decoding: b.prefix(256), as: UTF8.self), addSpecialTokens: true)
    }

    /// Four-byte little-endian length L, L bytes of adapter_config.json, then adapter_model.safetensors.
    static func peft(_ b: UnsafeRawBufferPointer) {
        guard b.count >= 4 else { return }
        let n = min(Int(b[0]) | Int(b[1]) << 8 | Int(b[2]) << 16 | Int(b[3]) << 24, b.count - 4)
        _ = file("adapter_config.json", UnsafeRawBufferPointer(rebasing: b[4..<(4 + n)]))
        _ = file("adapter_model.safetensors", UnsafeRawBufferPointer(rebasing: b[(4 + n)...]))
        guard let adapter = try? LoRAAdapter(directory: dir) else { return }
        for m in adapter.modules {
            _ = adapter.config.rank(for: m.module)
            _ = adapter.config.scaling(for: m.module)
        }
        touch(adapter.weights)
    }

    static func mergekit(_ b: UnsafeRawBufferPointer) {
        guard let c = try? MergekitConfig(url: file("merge.yaml", b)) else { return }
        let names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.3.mlp.up_proj.weight", "lm_head.weight"]
        for (_, params) in c.models {
            for (_, p) in params { for n in names { _ = p.value(for: n, t: 0.5) } }
        }
        for (_, p) in c.parameters { for n in names { _ = p.value(for: n, t: 1) } }
    }

    static func samples(_ b: UnsafeRawBufferPointer) {
        _ = try? SamplesFile.parse(Data(b), source: "samples.jsonl")
    }

    /// A stored chunk, decoded into a buffer of its recorded raw length (capped, as a store knows
    /// the size it expects).
    static func chunk(_ b: UnsafeRawBufferPointer) {
        let raw = ChunkCodec.rawLength(of: b) ?? 0
        let capacity = min(raw, 1 << 22)
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 64)
        defer { dst.deallocate() }
        _ = try? ChunkCodec.decode(b, into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<capacity]))
    }

    /// Two-byte little-endian element count, then a BF16ContextCoder payload.
    static func bf16(_ b: UnsafeRawBufferPointer) {
        guard b.count >= 2 else { return }
        let n = Int(b[0]) | Int(b[1]) << 8
        guard n > 0 else { return }
        let dst = UnsafeMutableRawPointer.allocate(byteCount: 2 * n, alignment: 64)
        defer { dst.deallocate() }
        try? BF16ContextCoder.decode(UnsafeRawBufferPointer(rebasing: b[2...]), count: n, into: dst)
    }

    /// rANS alone: a scale (1...12 bits), a 16-symbol frequency table that must sum to 2^scale
    /// (the check BF16ContextCoder makes before decoding), a symbol count, then 16-bit words
    /// followed by zeros (the contract of `Rans.take`: readable one word past the stream).
    static func rans(_ b: UnsafeRawBufferPointer) {
        var at = 0
        func byte() -> Int? { guard at < b.count else { return nil }; defer { at += 1 }; return Int(b[at]) }
        guard let s = byte() else { return }
        let scale = UInt32(s % 12 + 1), total = 1 << Int(scale)
        var freq = [UInt16](repeating: 0, count: 16), sum = 0
        for k in 0..<16 {
            guard let lo = byte(), let hi = byte() else { return }
            freq[k] = UInt16(min(lo | hi << 8, total))
            sum += Int(freq[k])
        }
        guard sum == total, let c0 = byte(), let c1 = byte() else { return }
        let symbols = c0 | c1 << 8
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: total)
        defer { slots.deallocate() }
        Rans.decodeSlots(freq, total: total, value: { UInt16($0) }, into: slots)
        let rest = b.count - at
        let words = UnsafeMutableRawPointer.allocate(byteCount: rest + 2 * symbols + 8, alignment: 16)
        defer { words.deallocate() }
        if rest > 0 { words.copyMemory(from: b.baseAddress! + at, byteCount: rest) }
        (words + rest).initializeMemory(as: UInt8.self, repeating: 0, count: 2 * symbols + 8)
        var x: UInt32 = rest >= 4 ? UInt32(words.loadUnaligned(as: UInt32.self)) : Rans.lowerBound
        var w = UnsafeRawPointer(words + min(rest, 4))
        var check: UInt32 = 0
        for _ in 0..<symbols { check &+= Rans.take(&x, slots: slots, scaleBits: scale, words: &w) }
        _ = check
    }

    static func config(_ b: UnsafeRawBufferPointer) {
        guard let json = try? JSONValue.parse(b, rejectDuplicateKeys: false) else { return }
        _ = try? ModelConfig(json: json)
    }

    static func manifest(_ b: UnsafeRawBufferPointer) {
        guard let json = try? JSONValue.parse(b), let m = try? Manifest(json: json) else { return }
        _ = m.contentHash
        _ = m.rawBytes
        _ = try? Manifest(json: m.json) == m
    }
}
