import ArgumentParser
import Foundation
import RecallTensor
import RecallMerge
import RecallStore
import RecallAPI

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Give the registry its base model and merge settings (version 1 = the base).",
        discussion: """
        Methods: regmean (default), recall, opcm, \(MergeMethods.all.map(\.name).joined(separator: ", ")).
        recall options: clusters, seed, tau, lambda (number or auto), score (centrality|anchor-new), pooling \
        (exclude-first|mean|exclude-outliers), sparsify (ties:DENSITY), probe (all|new), dtype, \
        fusion (task-vector|regmean; with regmean also alpha, ridge, rank, stats_samples).
        regmean options: alpha (off-diagonal scale, 0.9), ridge (1e-3), rank (Gram sketch rank, 24), \
        stats_samples (samples that feed the statistics, 64), dtype.
        Baseline options: weight, density (per model), lambda, normalize, rescale, t, seed, dtype.
        Example: recallctl init base/ --method recall --scenario experts --opt tau=0.1 --opt lambda=2
        """
    )

    @Argument(help: "The base model: an HF directory with config.json (and tokenizer.json for recall).")
    var base: String

    @Option(help: "Merge method run on every register (default regmean: chosen on the continual-learning benchmark's dev split, docs/ARCHITECTURE.md).")
    var method: String = InitRequest.defaultMethod

    @Option(help: "experts: task models are fine-tuned from the base, merge them all; sequential: each is fine-tuned from the head, merge head + new.")
    var scenario: String = "experts"

    @Option(name: .customLong("opt"), help: "A method option as key=value. Repeatable.")
    var options: [String] = []

    @Option(help: "Merge gate: keep head where it is when a task registered with --eval drops more than this many accuracy points below its best earlier version.")
    var gate: Double?

    @Option(name: .customLong("eval-metric"), help: "accuracy (summed log-prob of each choice) or accuracy_norm (length-normalised).")
    var evalMetric: String = "accuracy"

    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        guard EvalMetric(rawValue: evalMetric) != nil else { throw ValidationError("--eval-metric must be accuracy or accuracy_norm") }
        if let gate, !(gate >= 0) { throw ValidationError("--gate must be a non-negative number of points") }
        guard RegistrySettings.Scenario(rawValue: scenario) != nil else { throw ValidationError("--scenario must be experts or sequential") }
        do { _ = try MergePlan(method: method, options: try KeyValueOptions.parse(options, flag: "--opt")) } catch let e as RecallError {
            throw ValidationError(e.message)
        }
    }

    func run() throws {
        try reportingFailures {
            let opts = try KeyValueOptions.parse(options, flag: "--opt")
            let body = InitRequest(base: URL(fileURLWithPath: base).standardizedFileURL.path, method: method, scenario: scenario,
                                   options: opts, gate: gate, evalMetric: evalMetric)
            let (result, json) = try daemon.client().call("POST", "/v1/init", body.json, as: InitReply.self)
            if daemon.json { printJSON(json) } else {
                print("initialised: version \(result.version) is \(URL(fileURLWithPath: base).lastPathComponent) (method \(result.method), scenario \(result.scenario))")
            }
        }
    }
}
