import ArgumentParser
import Foundation

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a version: its inputs, the per-layer merge weights, similarities and typical samples.")

    @Argument(help: "Version number, tag or head.")
    var version: String

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let v = try daemon.client().call("GET", "/v1/versions/\(pathSegment(version))")
            if daemon.json { return printJSON(v) }
            print("version \(v["version"]?.intValue ?? 0)\(v["head"]?.boolValue == true ? " (head)" : "")  parent \(v["parent"]?.intValue.map(String.init) ?? "-")  task \(v["task"]?.stringValue ?? "-")  method \(v["method"]?.stringValue ?? "")")
            if v["gated"]?.boolValue == true { print("gated: \(v["gate_reason"]?.stringValue ?? "")") }
            let model = v["model"] ?? .null
            print("model \(model["name"]?.stringValue ?? "")  \(String((model["content_hash"]?.stringValue ?? "").prefix(12)))  \(model["raw_bytes"]?.intValue ?? 0) bytes raw, \(model["stored_bytes"]?.intValue ?? 0) new bytes stored")
            if let lambda = v["details"]?["lambda"]?.doubleValue { print("lambda \(lambda)") }
            print("\ninputs:")
            let inputs = v["inputs"]?.arrayValue ?? []
            printTable(["  ROLE", "MODEL", "TASK", "NAME"], inputs.map {
                ["  " + ($0["role"]?.stringValue ?? ""), String($0["model_id"]?.intValue ?? 0), $0["task"]?.stringValue ?? "-", $0["name"]?.stringValue ?? ""]
            })
            let weights = v["layer_weights"]?.arrayValue ?? []
            if let first = weights.first?["weights"]?.objectValue {
                let ids = first.map(\.0)
                let names = v["model_names"] ?? .null
                print("\nper-layer weights (layer 0 = embeddings):")
                printTable(["  LAYER"] + ids.map { names[$0]?.stringValue ?? $0 }, weights.map { row in
                    ["  " + String(row["layer"]?.intValue ?? 0)] + ids.map { String(format: "%.3f", row["weights"]?[$0]?.doubleValue ?? 0) }
                })
            }
            let sims = v["similarities"]?.arrayValue ?? []
            if !sims.isEmpty {
                print("\nsimilarity between models (mean / min over pairs):")
                printTable(["  LAYER", "MEAN", "MIN", "SIGMA"], sims.map {
                    ["  " + String($0["layer"]?.intValue ?? 0), String(format: "%.3f", $0["mean"]?.doubleValue ?? 0),
                     String(format: "%.3f", $0["min"]?.doubleValue ?? 0), $0["sigma"]?.doubleValue.map { String(format: "%.4g", $0) } ?? "-"]
                })
            }
            let typical = v["typical_samples"]?.arrayValue ?? []
            if !typical.isEmpty {
                print("\ntypical samples of \(v["task"]?.stringValue ?? "the task") (cluster size):")
                for t in typical { print("  [\(t["cluster_size"]?.intValue ?? 0)] \(String((t["text"]?.stringValue ?? "").prefix(100)))") }
            }
        }
    }
}
