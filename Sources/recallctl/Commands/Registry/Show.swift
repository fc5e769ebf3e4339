import ArgumentParser
import Foundation
import RecallAPI

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a version: its inputs, the per-layer merge weights, similarities and typical samples.")

    @Argument(help: "Version number, tag or head.")
    var version: String

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (v, json) = try daemon.client().call("GET", "/v1/versions/\(pathSegment(version))", as: VersionDetailReply.self)
            if daemon.json { return printJSON(json) }
            print("version \(v.version)\(v.head ? " (head)" : "")  parent \(v.parent.map(String.init) ?? "-")  task \(v.task ?? "-")  method \(v.method)")
            if v.gated { print("gated: \(v.gateReason ?? "")") }
            let model = v.model
            print("model \(model.name)  \(String(model.contentHash.prefix(12)))  \(model.rawBytes) bytes raw, \(model.storedBytes) new bytes stored")
            if let lambda = v.details["lambda"]?.doubleValue { print("lambda \(lambda)") }
            print("\ninputs:")
            printTable(["  ROLE", "MODEL", "TASK", "NAME"], v.inputs.map { ["  " + $0.role, String($0.modelID), $0.task ?? "-", $0.name] })
            if let first = v.layerWeights.first?.weights {
                // Columns by model id, as the daemon orders the inputs.
                let ids = first.keys.sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
                print("\nper-layer weights (layer 0 = embeddings):")
                printTable(["  LAYER"] + ids.map { v.modelNames[$0] ?? $0 }, v.layerWeights.map { row in
                    ["  " + String(row.layer)] + ids.map { String(format: "%.3f", row.weights[$0] ?? 0) }
                })
            }
            if !v.similarities.isEmpty {
                print("\nsimilarity between models (mean / min over pairs):")
                printTable(["  LAYER", "MEAN", "MIN", "SIGMA"], v.similarities.map {
                    ["  " + String($0.layer), String(format: "%.3f", $0.mean), String(format: "%.3f", $0.min), $0.sigma.map { String(format: "%.4g", $0) } ?? "-"]
                })
            }
            if !v.typicalSamples.isEmpty {
                print("\ntypical samples of \(v.task ?? "the task") (cluster size):")
                for t in v.typicalSamples { print("  [\(t.clusterSize)] \(String(t.text.prefix(100)))") }
            }
        }
    }
}
