// Runs GNU parallel and `ppdash run` on the same arguments, for the side-by-side suites (issue 14).
import Foundation
import Testing

/// GNU parallel as installed (Debian's `parallel`), or nil when this machine has none.
enum GNUParallel {
    static let path: String? = ["/usr/bin/parallel", "/usr/local/bin/parallel"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Says why a side-by-side test cannot run here (the test records it as an issue: never a silent pass).
    static let missing = "GNU parallel is not installed (apt-get install parallel; .ci/run does)"

    /// The environment both tools run under: no ~/.parallel state, no citation notice, a fixed shell and locale.
    static func environment(home: String) -> [String: String?] {
        ["HOME": home, "PARALLEL_HOME": home + "/.parallel", "SHELL": "/bin/sh", "LC_ALL": "C.UTF-8",
         "PARALLEL": nil, "PARALLEL_SHELL": "/bin/sh"]
    }
}

/// What both tools did with one set of arguments.
struct SideBySideResult: Sendable {
    var gnu: RunResult
    var ppdash: RunResult
}

/// Runs `parallel -k ARGS` and `ppdash run --keep-order ARGS` in the same fresh directory (each in its own copy of
/// `files`), with the same stdin, and returns both. `gnuExtra`/`ppdashExtra` go before ARGS for one side only.
func sideBySide(
    _ args: [String], stdin: [UInt8]? = nil, files: [String: [UInt8]] = [:],
    gnuExtra: [String] = [], ppdashExtra: [String] = [], timeout: Double = 30
) async throws -> SideBySideResult {
    let gnuPath = try #require(GNUParallel.path, Comment(rawValue: GNUParallel.missing))
    let root = TempDir()
    defer { root.remove() }
    func prepare(_ name: String) throws -> String {
        let dir = root.file(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (file, bytes) in files {
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + file))
        }
        return dir
    }
    let gnuDir = try prepare("gnu")
    let ppDir = try prepare("ppdash")
    let env = GNUParallel.environment(home: root.path)
    let gnu = await run(
        [gnuPath, "-k"] + gnuExtra + args, env: env, stdin: stdin ?? [], directory: gnuDir, timeout: timeout)
    let pp = await PPDash.run(
        ["run", "--keep-order", "--no-journal"] + ppdashExtra + args, env: env, stdin: stdin ?? [],
        directory: ppDir, timeout: timeout)
    return SideBySideResult(gnu: gnu, ppdash: pp)
}

/// Expects both tools to print the same stdout, byte for byte, and to exit with the same status.
func expectSame(_ r: SideBySideResult, _ what: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.gnu.stdout == r.ppdash.stdout && r.gnu.exitCode == r.ppdash.exitCode,
            "\(what)\n=== GNU parallel: \(r.gnu)\n=== ppdash: \(r.ppdash)", sourceLocation: sourceLocation)
}
