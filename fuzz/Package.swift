// swift-tools-version:6.0
// The fuzz harnesses (issue #20): one libFuzzer executable over the registry's parsers, built apart
// from the main package (`make fuzz`, fuzz/run.sh) with -sanitize=fuzzer,address.
import PackageDescription

// The registry package is this directory's parent; its identity is that directory's name.
let rootName = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "RecallRegistry"

let package = Package(
    name: "RecallFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "recall-fuzz",
            dependencies: [.product(name: "RecallService", package: rootName)],
            path: "Sources/recall-fuzz"
        ),
    ],
    swiftLanguageModes: [.v5]
)
