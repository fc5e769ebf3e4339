import Foundation
import RecallTensor
import RecallStore
import RecallAPI

/// The `recallctl` commands that reproduce a version's merge, from what provenance recorded: the
/// registry's init (its merge method, the scenario, `--opt`s, gate and metric as `init` was
/// given them) and, for a register, the register job's request (task, samples and eval file
/// names, parent, gate, trained-from). Files are named by their file name only: the registry
/// keeps their content (or its hash), not where they were, so `files` lists the names the user
/// must supply.
public struct ReproduceCommand: Equatable, Sendable {
    public var lines: [String]
    /// File and directory names in `lines` that the user must supply (placeholders in capitals).
    public var files: [String]

    /// `version`: `/v1/versions/{n}`; `settings`: `/v1/status`'s `settings` (nil before init);
    /// `request`: the payload of the register job that made the version (nil when it is the base
    /// or the job is gone).
    public init(version: VersionDetailReply, settings: SettingsReply?, request: JSONValue?) {
        // A register merges with the registry's method (version 1's method reads "base").
        var initLine = ["recallctl", "init", "BASE_DIR", "--method", settings?.method ?? version.method]
        if let scenario = settings?.scenario { initLine += ["--scenario", scenario] }
        for (key, value) in (settings?.options ?? [:]).sorted(by: { $0.key < $1.key }) { initLine += ["--opt", "\(key)=\(value)"] }
        if let gate = settings?.gatePoints { initLine += ["--gate", Self.number(gate)] }
        if let metric = settings?.evalMetric, metric != "accuracy" { initLine += ["--eval-metric", metric] }
        lines = [Self.shell(initLine)]
        files = ["BASE_DIR"]
        guard let task = version.task, version.parent != nil else { return }

        let newInput = version.inputs.first { $0.role == "new" }
        // The model's file name is the last part of the path it was registered from; an upload
        // (no path) is known by its name, which recallctl sets to the file name unless --name.
        let name = request?["name"]?.stringValue ?? newInput?.name
        // An upload's `model` is the daemon's own incoming/ path, not a file the user has.
        let uploaded = request?["uploaded"]?.boolValue == true || request?["upload"].map { !$0.isNull } == true
        let path = uploaded ? "" : request?["model"]?.stringValue ?? ""
        let model = path.isEmpty ? name.map(Self.fileName) ?? "MODEL" : Self.fileName(path)
        let samples = request.flatMap { $0["samples_name"]?.stringValue }.map(Self.fileName) ?? "SAMPLES.jsonl"
        var register = ["recallctl", "register", model, "--task", task, "--samples", samples]
        if let name, name != model { register += ["--name", name] }
        files += [model, samples]
        if let request, request["eval"].map({ !$0.isNull }) == true {
            let eval = Self.fileName(request["eval_name"]?.stringValue ?? "EVAL.jsonl")
            register += ["--eval", eval]
            files.append(eval)
        }
        if let parent = version.parent { register += ["--parent", String(parent)] }
        if let trainedFrom = request?["trained_from"]?.stringValue { register += ["--trained-from", trainedFrom] }
        if let gate = request?["gate"]?.doubleValue { register += ["--gate", Self.number(gate)] }
        lines.append(Self.shell(register))
    }

    static func fileName(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

    /// Words joined for a POSIX shell; a word with anything but [A-Za-z0-9._/=:+-] is single-quoted.
    static func shell(_ words: [String]) -> String {
        words.map { w in
            let plain = !w.isEmpty && w.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._/=:+-,".unicodeScalars.contains($0) }
            return plain ? w : "'" + w.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

extension Registry {
    /// The request of the register job that committed `version` (its payload), if that job is
    /// still recorded.
    public func registerRequest(of version: Int) throws -> JSONValue? {
        try provenance.registerJob(committing: version)?.payload
    }
}
