// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

// Release builds link the Swift runtime, Dispatch and Foundation into the executables statically (ncurses, libc and
// libstdc++ stay shared): the dynamic loader's symbol binding of libswiftCore, Foundation and ICU was about 5 ms of
// every `ppdash` start. The objects are compiled against the shared modules, whose autolink entries do not name
// Foundation's private static archives, so they are listed here, after CoreFoundation which needs ICU. Debug builds
// (and so `swift test`, whose bundle links this target's objects beside the shared Swift Testing) stay dynamic.
let staticRuntimeInRelease: [LinkerSetting] = [
    .unsafeFlags(
        ["-static-stdlib", "-lCoreFoundation", "-l_FoundationCShims", "-l_FoundationCollections", "-l_FoundationICU"],
        .when(platforms: [.linux], configuration: .release)
    )
]

let package = Package(
    name: "ppdash",
    products: [
        .library(name: "PPKit", targets: ["PPKit"]),
        .library(name: "PPDash", targets: ["PPDash"]),
        .executable(name: "ppdash", targets: ["ppdash"]),
        .executable(name: "ppdash-bench", targets: ["ppdash-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-algorithms", from: "1.2.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // ncursesw, wrapped: module map and shim header live under Modules/.
        .systemLibrary(
            name: "CNcurses",
            path: "Modules/CNcurses",
            providers: [.apt(["libncurses-dev"])]
        ),
        // What Glibc does not export to Swift (pipe2, pidfd_*, spawn's GNU actions, posix_openpt) and what must be
        // C (the signal handler, the futex lock): PPSystem's private helper, imported by nothing else.
        .target(name: "CPPSys"),
        // Every system call: descriptors with one owner, spawning, child processes by pidfd, signals, the clock,
        // /proc probes, the kill and grace timings.
        .target(
            name: "PPSystem",
            dependencies: ["CPPSys", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strict
        ),
        // The one JSON layer: a byte-buffer writer, a parser into JSONValue, Codable (Foundation's coders, set up once), ISO 8601.
        .target(name: "PPJSON", swiftSettings: strict),
        .target(
            name: "PPKit",
            dependencies: [
                "PPSystem", "PPJSON",
                .product(name: "Algorithms", package: "swift-algorithms"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Where the dashboard meets its sources: the source protocol, snapshots, the one table query, LocalSource.
        .target(name: "PPSource", dependencies: ["PPKit"], swiftSettings: strict),
        .target(
            name: "PPTerm",
            dependencies: ["CNcurses", "PPSystem", "PPJSON", .product(name: "Algorithms", package: "swift-algorithms")],
            swiftSettings: strict),
        // For tests and the benchmark only: an ncurses screen in memory (it sets the process locale).
        .target(name: "PPTestSupport", dependencies: ["PPTerm", "CNcurses"], swiftSettings: strict),
        // An ipyparallel cluster as a dashboard source; libzmq is loaded at run time (dlopen), never linked.
        .target(
            name: "PPIPP",
            dependencies: [
                "PPKit", "PPSource", "PPJSON", "PPSystem", .product(name: "Algorithms", package: "swift-algorithms"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PPDash",
            dependencies: ["PPKit", "PPSource", "PPTerm", "PPSystem", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: strict),
        // The command line's journal: typed events, writer, reader, resume planning, `ls`.
        .target(
            name: "PPJournal",
            dependencies: [
                "PPKit", "PPSource", "PPJSON", "PPAttach", "PPSystem", .product(name: "Algorithms", package: "swift-algorithms"),
            ],
            swiftSettings: strict),
        // The state socket `attach` speaks to, and its client: NIO Unix-domain sockets, JSON lines.
        .target(
            name: "PPAttach",
            dependencies: [
                "PPKit", "PPSource", "PPJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ppdash",
            dependencies: [
                "PPKit", "PPSource", "PPDash", "PPTerm", "PPIPP", "PPJournal", "PPAttach", "PPSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict,
            linkerSettings: staticRuntimeInRelease
        ),
        // The benchmark against the peers (bench/compare): `swift run -c release ppdash-bench --quick`.
        .executableTarget(
            name: "ppdash-bench",
            dependencies: [
                "PPKit", "PPSource", "PPDash", "PPTerm", "PPTestSupport", "PPJournal", "PPJSON", "PPSystem", "ppdash",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PPKitTests",
            dependencies: [
                "PPKit", "PPSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "PPSourceTests", dependencies: ["PPSource", "PPKit", "PPJournal", "PPIPP"], swiftSettings: strict),
        .testTarget(name: "PPTermTests", dependencies: ["PPTerm", "PPTestSupport"], swiftSettings: strict),
        .testTarget(name: "PPIPPTests", dependencies: ["PPIPP", "PPKit", "PPSource"], swiftSettings: strict),
        .testTarget(
            name: "PPJournalTests", dependencies: ["PPJournal", "PPKit", "PPSource", "PPJSON", "PPAttach"], exclude: ["Fixtures"],
            swiftSettings: strict),
        .testTarget(name: "PPJSONTests", dependencies: ["PPJSON"], swiftSettings: strict),
        .testTarget(name: "PPAttachTests", dependencies: ["PPAttach", "PPKit", "PPSource", "PPJSON"], swiftSettings: strict),
        .testTarget(
            name: "PPDashTests", dependencies: ["PPDash", "PPKit", "PPSource", "PPTerm", "PPTestSupport"],
            swiftSettings: strict),
        .testTarget(name: "PPSystemTests", dependencies: ["PPSystem"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["PPSystem", "ppdash", "PPIPP"], swiftSettings: strict),
    ]
)
