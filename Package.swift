// swift-tools-version:6.0
// RecallRegistry: a model registry daemon that merges task models into an evolving LLM with RECALL.
import PackageDescription

// No target is built with -Ounchecked: measured against -O (bench/results/ounchecked-ab.json),
// the forward pass was no faster and the merges within the run's noise, while RecallModel and
// RecallMerge also parse what users send (tokenizer.json, config.json, mergekit YAML, options),
// where a bounds or overflow check must trap rather than read past a buffer.
// The test build (debug) optimises the targets whose loops touch every weight: unoptimised,
// generic element loops run 100x slower and made a few merge tests most of `make test`.
let optimisedInDebug: SwiftSetting = .unsafeFlags(["-O"], .when(configuration: .debug))

let package = Package(
    name: "RecallRegistry",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RecallService", targets: ["RecallService"]),
        .executable(name: "recall-registry", targets: ["RecallRegistry"]),
        .executable(name: "recallctl", targets: ["recallctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The daemon's HTTP server (Unix socket or TCP) and its structured logs.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // System libraries, found through pkg-config; the Makefile installs the Debian packages.
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),

        // The layers, lowest first; a target imports only targets above it in this list.
        // Tensors, dtypes and the checkpoint formats users hand us (safetensors, GGUF, PEFT, samples).
        .target(
            name: "RecallTensor",
            dependencies: ["COpenBLAS", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: [optimisedInDebug, .swiftLanguageMode(.v6)]
        ),
        // The model: config, tokenizer, the Llama forward pass.
        .target(
            name: "RecallModel",
            dependencies: ["RecallTensor", "COpenBLAS"],
            swiftSettings: [optimisedInDebug, .swiftLanguageMode(.v6)]
        ),
        // Merge methods (RECALL, RegMean, task arithmetic family, SLERP, MagMax) and their plans.
        .target(
            name: "RecallMerge",
            dependencies: ["RecallTensor", "RecallModel", "COpenBLAS", .product(name: "Yams", package: "Yams")],
            swiftSettings: [optimisedInDebug, .swiftLanguageMode(.v6)]
        ),
        // Persistence: LMDB blobs and caches, SQLite provenance. The only target with SQL or LMDB calls.
        .target(
            name: "RecallStore",
            dependencies: ["RecallTensor", "RecallMerge", "CLMDB", "CZstd", "CSQLite",
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: [optimisedInDebug, .swiftLanguageMode(.v6)]
        ),
        // The API's request and reply bodies and the error shape, shared by the daemon and recallctl.
        .target(
            name: "RecallAPI",
            dependencies: ["RecallTensor"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The registry service: intake, jobs, the register pipeline, evaluation, reports.
        .target(
            name: "RecallService",
            dependencies: ["RecallTensor", "RecallModel", "RecallMerge", "RecallStore", "RecallAPI"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "RecallRegistry",
            dependencies: [
                "RecallService", "RecallAPI", "RecallStore", "RecallMerge", "RecallModel", "RecallTensor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "recallctl",
            dependencies: [
                "RecallService", "RecallAPI", "RecallStore", "RecallMerge", "RecallModel", "RecallTensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // In-process measurements for `make bench`; not shipped.
        .executableTarget(
            name: "RecallBench",
            dependencies: ["RecallStore", "RecallMerge", "RecallModel", "RecallTensor", "COpenBLAS"]
        ),
        // The tests mirror the layers: one test target per library target, each depending on the
        // targets it exercises and on the shared support (fixtures under Tests/Fixtures, temp dirs).
        // A regular target so the test targets can share it; it imports nothing @testable.
        .target(
            name: "RecallTestSupport",
            dependencies: ["RecallTensor"],
            path: "Tests/RecallTestSupport"
        ),
        .testTarget(
            name: "RecallTensorTests",
            dependencies: ["RecallTensor", "RecallTestSupport"]
        ),
        .testTarget(
            name: "RecallModelTests",
            dependencies: ["RecallModel", "RecallTensor", "RecallTestSupport"]
        ),
        .testTarget(
            name: "RecallMergeTests",
            dependencies: ["RecallMerge", "RecallModel", "RecallTensor", "RecallTestSupport"]
        ),
        .testTarget(
            name: "RecallStoreTests",
            // RecallBench is the helper process the store crash tests kill.
            dependencies: ["RecallStore", "RecallMerge", "RecallModel", "RecallTensor", "RecallTestSupport", "RecallBench"]
        ),
        // The register pipeline in process: a real Registry on a temp home, no daemon.
        .testTarget(
            name: "RecallServiceTests",
            dependencies: ["RecallService", "RecallAPI", "RecallStore", "RecallMerge", "RecallModel", "RecallTensor",
                           "RecallTestSupport"]
        ),
        // fuzz/corpus replayed through the libFuzzer harnesses (FuzzHarnesses.swift links
        // fuzz/Sources/recall-fuzz/Harnesses.swift), and each crash the fuzzer found; the harnesses
        // reach every parser, from tensors to the store.
        .testTarget(
            name: "FuzzReplayTests",
            dependencies: ["RecallStore", "RecallMerge", "RecallModel", "RecallTensor", "RecallTestSupport"]
        ),
        .testTarget(
            name: "recallctlTests",
            // Yams reads docs/openapi.yaml for the API conformance test.
            dependencies: ["RecallService", "RecallAPI", "RecallStore", "RecallMerge", "RecallModel", "RecallTensor", "recallctl", .product(name: "Yams", package: "Yams")]
        ),
        // The daemon's routers in process (HummingbirdTesting), over a real registry on a temp home;
        // Yams reads docs/openapi.yaml to check the route table against it.
        .testTarget(
            name: "RecallRegistryTests",
            dependencies: ["RecallRegistry", "RecallService", "RecallAPI", "RecallStore", "RecallTensor",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "Yams", package: "Yams")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
