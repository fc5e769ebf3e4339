import Foundation
import RecallTensor
import RecallStore
import RecallAPI

/// A register job as the worker runs it: the client's request, what `submitRegister` resolved
/// while it checked the model, and the samples parsed once. Its `payload` is the job row's JSON:
/// the request's own keys plus `resolved`, `format`, `trained_from_version` and `fingerprint`, so
/// a job queued by an earlier daemon (or left by a killed one) reads back the same way.
struct RegisterJob {
    let request: RegisterRequest
    /// The samples of `request.samples`, parsed.
    let samples: [Sample]
    /// The model the worker reads: its hard links in `incoming/` (`InputSnapshot`), or the
    /// client's path where they cannot be made.
    let resolved: URL
    /// What the model is (`peft-lora`, `gguf`, or the checkpoint layout).
    let format: ModelFormat
    /// The version the model was fine-tuned from, resolved at submit so the job applies an
    /// adapter to the same weights even if head moves while it waits.
    let trainedFromVersion: Int
    /// What the model looked like when it was checked (`InputFingerprint`); nil for jobs queued
    /// before fingerprints were recorded.
    let fingerprint: JSONValue?

    /// `samples` are `request.samples` parsed (`SamplesFile.parse`).
    init(request: RegisterRequest, samples: [Sample], resolved: URL, format: ModelFormat, trainedFromVersion: Int, fingerprint: JSONValue?) {
        self.request = request
        self.samples = samples
        self.resolved = resolved
        self.format = format
        self.trainedFromVersion = trainedFromVersion
        self.fingerprint = fingerprint
    }

    /// Reads a job row's payload; a missing or mistyped field is an error naming the job and the field.
    init(job: JobRecord) throws {
        func bad(_ message: String) -> RecallError {
            RecallError(.invalidFile, "job \(job.id): \(message); the job cannot run, register the model again")
        }
        let request: RegisterRequest
        do { request = try RegisterRequest(json: job.payload) } catch let e as RecallError {
            let message = e.message.hasPrefix("request: ") ? String(e.message.dropFirst("request: ".count)) : e.message
            throw bad("payload \(message)")
        }
        func string(_ key: String) throws -> String? {
            guard let v = job.payload[key], !v.isNull else { return nil }
            guard let s = v.stringValue else { throw bad("payload field \"\(key)\" must be a string") }
            return s
        }
        // Defaults for the keys jobs queued by earlier daemons may lack: the path as given, a
        // plain file, an adapter applied to the base.
        let resolved = try string("resolved") ?? request.model
        let formatText = try string("format") ?? ModelFormat.file.rawValue
        guard let format = ModelFormat(rawValue: formatText) else {
            throw bad("payload field \"format\" is '\(formatText)', not one of \(ModelFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var trainedFrom = 1
        if let v = job.payload["trained_from_version"], !v.isNull {
            guard let n = v.intValue, n >= 1 else { throw bad("payload field \"trained_from_version\" must be a version number") }
            trainedFrom = n
        }
        let fingerprint = job.payload["fingerprint"].flatMap { $0.isNull ? nil : $0 }
        if let fingerprint, fingerprint.objectValue == nil {
            throw bad("payload field \"fingerprint\" must be an object of file names")
        }
        let samples: [Sample]
        do { samples = try SamplesFile.parse(Data(request.samples.utf8), source: request.samplesName) } catch let e as RecallError {
            throw RecallError(e.kind, "job \(job.id): \(e.message)")
        }
        self.init(request: request, samples: samples, resolved: URL(fileURLWithPath: resolved), format: format,
                  trainedFromVersion: trainedFrom, fingerprint: fingerprint)
    }

    /// The job row's payload (keys as every daemon version has written them).
    var payload: JSONValue {
        var members = request.json.objectValue ?? []
        members.append(("resolved", .string(resolved.path)))
        members.append(("format", .string(format.rawValue)))
        members.append(("trained_from_version", .int(trainedFromVersion)))
        members.append(("fingerprint", fingerprint ?? .null))
        return .object(members)
    }

    /// Hash of the samples as sent: what the registration records and the statistics cache keys on.
    var samplesHash: String { ContentHash.sha256Hex(Data(request.samples.utf8)) }

    /// What the end of the job removes: the upload it was given, the hard links of a model named
    /// by its path (`InputSnapshot`), and the imported copy an older daemon made of a GGUF file
    /// (`incoming/import-*`; GGUF files are now read in place).
    func filesToRemove(incoming: URL) -> [URL] {
        var files: [URL] = []
        if request.uploaded { files.append(URL(fileURLWithPath: request.model)) }
        if format == .gguf, resolved.deletingLastPathComponent().standardizedFileURL.path == incoming.standardizedFileURL.path,
           resolved.lastPathComponent.hasPrefix("import-") { files.append(resolved) }
        if let snapshot = InputSnapshot.directory(of: resolved, incoming: incoming) { files.append(snapshot) }
        return files
    }
}
