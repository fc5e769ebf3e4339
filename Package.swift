// swift-tools-version:6.0
// RecallRegistry: a model registry daemon that merges task models into an evolving LLM with RECALL.
import PackageDescription

let package = Package(
    name: "RecallRegistry",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RecallCore", targets: ["RecallCore"]),
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

        .target(
            name: "RecallCore",
            dependencies: [
                "CLMDB", "CZstd", "COpenBLAS", "CSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "RecallRegistry",
            dependencies: [
                "RecallCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "recallctl",
            dependencies: [
                "RecallCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // In-process measurements for `make bench`; not shipped.
        .executableTarget(
            name: "RecallBench",
            dependencies: ["RecallCore", "COpenBLAS"]
        ),
        .testTarget(
            name: "RecallCoreTests",
            // RecallBench is the helper process the store crash tests kill.
            dependencies: ["RecallCore", "RecallBench"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "recallctlTests",
            // Yams reads docs/openapi.yaml for the API conformance test.
            dependencies: ["RecallCore", "recallctl", .product(name: "Yams", package: "Yams")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
