// Finds the `ppdash` binary under test and runs it.
import Foundation
import PPSystem

import Glibc

enum PPDash {
    /// The binary: `$PPDASH_BIN`, else `ppdash` beside the running test bundle, else `.build*/debug/ppdash`
    /// above this source file.
    static let path: String? = locate()

    /// Why `path` is nil, for failure messages.
    static let notFound = "ppdash binary not found: set PPDASH_BIN, or build it with the tests (EndToEndTests depends on ppdash)"

    /// What every ppdash child gets: a UTF-8 locale and a Swift crash report that never waits for a debugger.
    static let baseEnvironment: [String: String?] = [
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SWIFT_BACKTRACE": "interactive=no",
    ]

    private static func isExecutableFile(_ p: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &isDir) && !isDir.boolValue && access(p, X_OK) == 0
    }

    private static func locate() -> String? {
        if let p = ProcessInfo.processInfo.environment["PPDASH_BIN"], !p.isEmpty {
            return p
        }
        var dirs: [String] = []
        if let a0 = CommandLine.arguments.first {
            dirs.append(URL(fileURLWithPath: a0).resolvingSymlinksInPath().deletingLastPathComponent().path)
        }
        if let exe = SystemFacts.executablePath {
            dirs.append(URL(fileURLWithPath: exe).deletingLastPathComponent().path)
        }
        for d in dirs where isExecutableFile(d + "/ppdash") { return d + "/ppdash" }

        // Walk up from this file to the package root, then look in its build directories.
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                var candidates = [dir.appendingPathComponent(".build/debug/ppdash").path]
                let others = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
                for o in others.sorted() where o.hasPrefix(".build") && o != ".build" {
                    candidates.append(dir.path + "/" + o + "/debug/ppdash")
                }
                let found = candidates.filter(isExecutableFile).sorted { modified($0) > modified($1) }
                return found.first
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    private static func modified(_ p: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date) ?? .distantPast
    }

    /// Runs `ppdash args...` with its pipes as stdin/stdout/stderr (so never a terminal) and waits for it.
    static func run(
        _ args: [String], env: [String: String?] = [:], stdin: [UInt8]? = nil,
        directory: String? = nil, timeout: Double = 30
    ) async -> RunResult {
        guard let path else { return RunResult(spawnError: notFound) }
        return await EndToEndTests.run(
            [path] + args, env: baseEnvironment.merging(env) { $1 }, stdin: stdin, directory: directory, timeout: timeout)
    }

    /// Starts `ppdash args...` in the background (to be signalled).
    static func start(_ args: [String], env: [String: String?] = [:], directory: String? = nil, timeout: Double = 30) -> Child? {
        guard let path else { return nil }
        return Child.start([path] + args, env: baseEnvironment.merging(env) { $1 }, directory: directory, timeout: timeout)
    }
}

/// Quotes `s` as one word for `sh`.
func shellQuote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
