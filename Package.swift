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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
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
        .target(
            name: "PPKit",
            dependencies: [
                "CPPSys",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(name: "PPTerm", dependencies: ["CNcurses"], swiftSettings: strict),
        .target(name: "PPDash", dependencies: ["PPKit", "PPTerm"], swiftSettings: strict),
        .executableTarget(
            name: "ppdash",
            dependencies: [
                "PPKit", "PPDash", "PPTerm",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "PPKitTests", dependencies: ["PPKit"], swiftSettings: strict),
        .testTarget(name: "PPTermTests", dependencies: ["PPTerm"], swiftSettings: strict),
        .testTarget(name: "PPDashTests", dependencies: ["PPDash", "PPKit", "PPTerm"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["CPPSys", "ppdash"], swiftSettings: strict),
    ]
)
