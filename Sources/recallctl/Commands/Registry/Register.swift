import ArgumentParser
import Foundation
import RecallTensor
import RecallAPI
import RecallService

struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register a task model: the daemon stores it and merges it into a new version.",
        discussion: """
        MODEL: a .safetensors file (any extension, e.g. taskC.st), a sharded index, an HF directory, a GGUF file \
        or a PEFT LoRA adapter directory (applied to the model it was trained from: see --trained-from). Waits with a progress bar unless \
        --no-wait (then prints the job id; see `recallctl jobs`). Registering identical content again changes nothing.
        """
    )

    @Argument(help: "The task model.")
    var model: String

    @Option(help: "Task name (a later model for the same task replaces the earlier one among the experts).")
    var task: String

    @Option(help: "The task's samples (JSONL, one {\"text\": ...} per line); typical samples are picked from them.")
    var samples: String

    @Option(help: "Display name of the model (default: the file or directory name).")
    var name: String?

    @Option(help: "Merge onto this version (number or tag) instead of head.")
    var parent: String?

    @Option(name: .customLong("trained-from"), help: ArgumentHelp(
        "The version the model was fine-tuned from (number, tag, head or base).",
        discussion: "A PEFT adapter is applied to that version's model, and the merge takes the task vector against it. Default: base in the experts scenario, the parent version (head) in the sequential one."))
    var trainedFrom: String?

    @Option(help: "Eval items (JSONL with prompt, choices, answer): this task is then evaluated on every later version.")
    var eval: String?

    @Option(help: "Merge gate for this register: keep head when a watched task drops more than this many accuracy points.")
    var gate: Double?

    @Flag(name: .customLong("no-wait"), help: "Queue the job and print its id without waiting.")
    var noWait = false

    @Flag(help: "Accepted for clarity; waiting is the default.")
    var wait = false

    @Flag(help: "Stream the model file to the daemon instead of sending its path (automatic with --url).")
    var upload = false

    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        if noWait && wait { throw ValidationError("--wait and --no-wait contradict each other") }
        if task.isEmpty { throw ValidationError("--task must not be empty") }
    }

    func run() throws {
        try reportingFailures {
            let client = try daemon.client()
            let samplesURL = URL(fileURLWithPath: samples)
            guard let samplesData = FileManager.default.contents(atPath: samplesURL.path) else {
                throw RecallError(.notFound, "\(samples): cannot read the samples file")
            }
            // Checked here too, so a bad line is reported before anything is sent.
            _ = try SamplesFile.parse(samplesData, source: samples)
            var evalText: String?
            if let eval {
                guard let data = FileManager.default.contents(atPath: eval) else { throw RecallError(.notFound, "\(eval): cannot read the eval file") }
                _ = try TaskEvaluator.items(data, source: eval)
                evalText = String(decoding: data, as: UTF8.self)
            }
            let modelURL = URL(fileURLWithPath: model).standardizedFileURL
            var isDir: ObjCBool = false
            var modelPath = modelURL.path
            var uploaded = false
            var uploadID: String?
            if upload || daemon.isRemote {
                guard FileManager.default.fileExists(atPath: modelURL.path, isDirectory: &isDir) else {
                    throw RecallError(.notFound, "\(model): no such file or directory")
                }
                guard !isDir.boolValue else {
                    throw RecallError(.unsupported, "\(model): uploads take one file (safetensors or GGUF); register a directory by its path on the daemon's machine")
                }
                let r = try client.upload("/v1/uploads?name=\(pathSegment(modelURL.lastPathComponent))", file: modelURL)
                guard r.status == 201 else { throw RecallError(.invalidArgument, r.errorMessage) }
                guard let reply = try? JSONDecoder().decode(UploadReply.self, from: r.body) else {
                    throw RecallError(.invalidArgument, "the daemon's upload answer is not what recallctl expects (upload, bytes); are the daemon and recallctl the same version?")
                }
                uploadID = reply.upload
                modelPath = ""
                uploaded = true
            }
            let body = RegisterRequest(model: modelPath, task: task, name: name ?? modelURL.lastPathComponent,
                                       samples: String(decoding: samplesData, as: UTF8.self), samplesName: samples,
                                       parent: parent, uploaded: uploaded, eval: evalText, evalName: eval ?? "eval", gate: gate,
                                       trainedFrom: trainedFrom, upload: uploadID).json
            let (job, json) = try client.call("POST", "/v1/register", body, as: JobReply.self)
            let id = job.id
            if noWait {
                if daemon.json { printJSON(json) } else { print("job \(id) queued (see `recallctl jobs`)") }
                return
            }
            let (final, finalJSON) = try JobWatcher(client: client, showBar: !daemon.json).wait(id)
            if daemon.json { printJSON(finalJSON) }
            guard final.state == "succeeded" else {
                throw RecallError(.invalidArgument, "job \(id) failed: \(final.error ?? "unknown reason")")
            }
            if !daemon.json {
                // The result is free-form (schema JobResult): read the fields a succeeded register has.
                let result = final.result ?? .null
                if result["existing"]?.boolValue == true {
                    print("already registered: \(result["message"]?.stringValue ?? "") (version \(result["version"]?.intValue ?? 0))")
                } else {
                    print("registered \(modelURL.lastPathComponent) as task \(task): version \(result["version"]?.intValue ?? 0)")
                    if result["gated"]?.boolValue == true {
                        print("gated: head stays where it was (\(result["gate_reason"]?.stringValue ?? ""))")
                    }
                    let evals = result["evaluations"]?.objectValue ?? []
                    if !evals.isEmpty {
                        print("accuracy: " + evals.map { "\($0.0) \(String(format: "%.1f%%", ($0.1.doubleValue ?? 0) * 100))" }.joined(separator: ", "))
                    }
                }
            }
        }
    }
}

/// Follows a job through the daemon's NDJSON watch stream, drawing a progress bar on stderr.
struct JobWatcher {
    let client: DaemonClient
    let showBar: Bool

    /// The job as its last line said it, and that line as sent (what --json prints).
    func wait(_ id: Int) throws -> (reply: JobReply, json: JSONValue) {
        var last: (reply: JobReply, json: JSONValue)?
        let tty = isatty(STDERR_FILENO) == 1
        var lastPhase = ""
        let status = try client.streamLines("/v1/jobs/\(id)/watch") { line in
            let data = Data(line.utf8)
            guard let job = try? JSONDecoder().decode(JobReply.self, from: data),
                  let json = try? JSONValue.parse(data, rejectDuplicateKeys: false) else { return }
            last = (job, json)
            guard showBar else { return }
            let fraction = job.progress
            let phase = job.phase ?? job.state
            let eta = job.etaSeconds.map { String(format: "  ETA %.0fs", $0) } ?? ""
            let filled = Int(fraction * 30)
            let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "]"
            if tty {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(bar) \(String(format: "%3.0f%%", fraction * 100)) \(phase)\(eta)".utf8))
            } else if phase != lastPhase {
                FileHandle.standardError.write(Data("\(bar) \(String(format: "%3.0f%%", fraction * 100)) \(phase)\n".utf8))
            }
            lastPhase = phase
        }
        if showBar && tty { FileHandle.standardError.write(Data("\n".utf8)) }
        guard status == 200, let last else {
            // The stream broke (daemon stopped?): report the job as it stands.
            return try client.call("GET", "/v1/jobs/\(id)", as: JobReply.self)
        }
        if !last.reply.isFinished {
            throw RecallError(.io, "the daemon stopped while job \(id) was \(last.reply.state); it resumes when the daemon starts again (`recallctl jobs`)")
        }
        return last
    }
}
