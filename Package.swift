// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "ppdash",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PPKit", targets: ["PPKit"]),
        .library(name: "PPDash", targets: ["PPDash"]),
        .executable(name: "ppdash", targets: ["ppdash"]),
        .executable(name: "ppdash-bench", targets: ["ppdash-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // ncursesw, wrapped: module map and shim header live under Modules/.
        .systemLibrary(
            name: "CNcurses",
            path: "Modules/CNcurses",
            providers: [.apt(["libncurses-dev"])]
        ),
        // What Glibc does not export to Swift: pipe2, pidfd_open, wait-status macros, spawn flags.
        .target(name: "CPPSys"),
        // The one JSON layer: a byte-buffer writer, a parser into JSONValue, Codable over it, ISO 8601 instants.
        .target(name: "PPJSON", swiftSettings: strict),
        .target(
            name: "PPKit",
            dependencies: [
                "CPPSys", "PPJSON",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(name: "PPTerm", dependencies: ["CNcurses"], swiftSettings: strict),
        // An ipyparallel cluster as a dashboard source; libzmq is loaded at run time (dlopen), never linked.
        .target(
            name: "PPIPP",
            dependencies: ["PPKit", "PPJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(name: "PPDash", dependencies: ["PPKit", "PPTerm"], swiftSettings: strict),
        // The command line's journal: typed events, writer, reader, resume planning, `ls`.
        .target(name: "PPJournal", dependencies: ["PPKit", "PPJSON", "PPAttach"], swiftSettings: strict),
        // The state socket `attach` speaks to, and its client: NIO Unix-domain sockets, JSON lines.
        .target(
            name: "PPAttach",
            dependencies: [
                "PPKit", "PPJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ppdash",
            dependencies: [
                "PPKit", "PPDash", "PPTerm", "PPIPP", "PPJournal", "PPAttach",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // The benchmark against the peers (bench/compare): `swift run -c release ppdash-bench --quick`.
        .executableTarget(
            name: "ppdash-bench",
            dependencies: [
                "PPKit", "PPDash", "PPTerm", "PPJournal", "PPJSON", "CPPSys", "ppdash",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PPKitTests",
            dependencies: [
                "PPKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "PPTermTests", dependencies: ["PPTerm"], swiftSettings: strict),
        .testTarget(name: "PPIPPTests", dependencies: ["PPIPP", "PPKit"], swiftSettings: strict),
        .testTarget(
            name: "PPJournalTests", dependencies: ["PPJournal", "PPKit", "PPJSON", "PPAttach"], exclude: ["Fixtures"],
            swiftSettings: strict),
        .testTarget(name: "PPJSONTests", dependencies: ["PPJSON"], swiftSettings: strict),
        .testTarget(name: "PPAttachTests", dependencies: ["PPAttach", "PPKit", "PPJSON"], swiftSettings: strict),
        .testTarget(name: "PPDashTests", dependencies: ["PPDash", "PPKit", "PPTerm"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["CPPSys", "ppdash"], swiftSettings: strict),
    ]
)
