import ArgumentParser
import Foundation
import RecallAPI
import RecallTensor

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a version as an HF directory (model.safetensors, config.json, tokenizer files).",
        discussion: "Over the Unix socket the daemon writes OUT_DIR itself; with --url or --stream the files are streamed to this machine.")

    @Argument(help: "Version number, tag or head.")
    var version: String

    @Argument(help: "Output directory (must be empty or new, unless --force).")
    var out: String

    @Flag(help: "Overwrite a non-empty OUT_DIR.")
    var force = false

    @Flag(help: "Stream the files through the API instead of having the daemon write OUT_DIR.")
    var stream = false

    @Option(help: "Weights dtype (f32, f16, bf16); default as stored. Not with --stream.")
    var dtype: DType?

    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        if dtype != nil && (stream || daemon.isRemote) { throw ValidationError("--dtype needs the daemon to write OUT_DIR (no --stream / --url)") }
    }

    func run() throws {
        try reportingFailures {
            let client = try daemon.client()
            let outURL = URL(fileURLWithPath: out).standardizedFileURL
            if stream || daemon.isRemote {
                try refuseToClobber(outURL, force: force)
                let ref = pathSegment(version)
                // Resolve first: an unknown version must not leave an empty directory behind.
                let v = try client.call("GET", "/v1/versions/\(ref)")
                let files = try client.call("GET", "/v1/versions/\(ref)/files", as: FileListReply.self).reply.files
                try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
                for name in files {
                    let r = try client.download("/v1/versions/\(ref)/files/\(pathSegment(name))", to: outURL.appendingPathComponent(name))
                    guard r.status == 200 else { throw RecallError(.io, "\(name): \(r.errorMessage)") }
                }
                if daemon.json { printJSON(.object([("version", v["version"] ?? .null), ("path", .string(outURL.path))])) }
                else { print("exported version \(v["version"]?.intValue ?? 0) to \(outURL.path) (\(files.count) files)") }
                return
            }
            var body: [(String, JSONValue)] = [("path", .string(outURL.path)), ("force", .bool(force))]
            if let dtype { body.append(("dtype", .string(dtype.rawValue))) }
            let (r, json) = try client.call("POST", "/v1/versions/\(pathSegment(version))/export", .object(body), as: ExportReply.self)
            if daemon.json { printJSON(json) } else { print("exported version \(r.version) to \(outURL.path)") }
        }
    }
}
