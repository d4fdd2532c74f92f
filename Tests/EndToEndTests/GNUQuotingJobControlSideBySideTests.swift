// Issue 14, the rest: GNU parallel's quoting (--dry-run and the joblog's Command byte for byte), --timeout N%,
// --resume/--shuf/--delay with input read as it comes (stdin), `run -n` refused, --memfree/--load holding
// dispatch, and the README's refused rows. Each side-by-side case runs `parallel -k` and `ppdash run
// --keep-order` on the same arguments (see SideBySide.swift).
import Foundation
import Glibc
import PPSystem
import Testing

/// A joblog's lines as byte columns (the Command's bytes kept as they are, not UTF-8 too), the header kept,
/// Starttime and JobRuntime blanked, sorted by Seq.
private func joblogBytes(_ path: String) -> [[[UInt8]]] {
    let data = Array(FileManager.default.contents(atPath: path) ?? Data())
    var rows = data.split(separator: 10).map { line in
        line.split(separator: 9, maxSplits: 8, omittingEmptySubsequences: false).map { Array($0) }
    }
    for i in rows.indices.dropFirst() where rows[i].count == 9 {
        rows[i][2] = Array("T".utf8)
        rows[i][3] = Array("R".utf8)
    }
    guard let header = rows.first else { return [] }
    func seq(_ r: [[UInt8]]) -> Int { Int(String(decoding: r[0], as: UTF8.self)) ?? 0 }
    return [header] + rows.dropFirst().sorted { seq($0) < seq($1) }
}

private func shown(_ rows: [[[UInt8]]]) -> String {
    rows.map { $0.map { ByteText.lossy(ByteText.decode($0)) }.joined(separator: " | ") }.joined(separator: "\n")
}

/// Arguments that need quoting, each checked against GNU parallel's quoting: a space, quotes, `$`, a backslash,
/// `~ * = , : @ %`, a tab, non-ASCII, and the ones that need none.
private let hostile: [String] = [
    "a b", "it's", "'", "''", "a'", "'a", "", "~", "*", "=", ",", ":", "@", "%", "$HOME", "a\\b", "\\n", "\"q\"",
    "x-_.+/Z9", "日本", "a\tb", "$(echo no)", "`echo no`", "a;b|c&d>e<f", "!x", "#x", "{}", "-n",
]

/// Items for `-0` on stdin: with a newline inside, a byte that is not UTF-8, quotes and a backslash.
private let nulItems: [UInt8] = Array("a\nb\0caf".utf8) + [0xE9] + Array("\0it's \\x\0\0plain\0".utf8)

@Suite("Side by side: GNU parallel's quoting in --dry-run and the joblog", .endToEndSlot)
struct GNUQuotingSideBySideTests {
    @Test("--dry-run quotes each argument as GNU parallel does, byte for byte")
    func dryRunQuoting() async throws {
        let r = try await sideBySide(["--dry-run", "echo {}", ":::"] + hostile)
        #expect(r.gnu.outLines.contains("echo 'it'\"'\"'s'") && r.gnu.outLines.contains("echo \"'\""), "\(r.gnu)")
        expectSame(r, "--dry-run, hostile arguments")
    }

    @Test("--dry-run: {} inside double quotes in the template, modifiers, no replacement string")
    func dryRunTemplates() async throws {
        expectSame(try await sideBySide(["--dry-run", "echo \"{}\" x", ":::", "a b", "it's", "$x"]), "{} in double quotes")
        expectSame(try await sideBySide(["--dry-run", "echo {1/} {.} {//} {/.}", ":::", "a b/c d.e", "x/'y'.z"]), "modifiers")
        expectSame(try await sideBySide(["--dry-run", "echo", ":::", "a b", "c", "it's"]), "arguments appended")
        expectSame(try await sideBySide(["--dry-run", "printf '%s\\n' {1} {2}", ":::", "a b", "c", ":::", "d'e", ""]), "two groups")
    }

    @Test("--dry-run -0 from stdin: a newline, a byte that is not UTF-8, quotes and a backslash inside arguments")
    func dryRunNulItems() async throws {
        let r = try await sideBySide(["-0", "--dry-run", "echo {}"], stdin: nulItems)
        #expect(r.gnu.stdout.contains(0xE9), "\(r.gnu)")
        expectSame(r, "--dry-run -0")
    }

    @Test("running them: every argument reaches the task as it was, the same stdout")
    func runQuoted() async throws {
        expectSame(try await sideBySide(["printf '<%s>\\n' {}", ":::"] + hostile), "printf, hostile arguments")
        expectSame(try await sideBySide(["-0", "printf '<%s>\\n' {}"], stdin: nulItems), "printf, -0 items")
        // The quotes GNU parallel adds are part of the word inside double quotes: the task prints them.
        expectSame(try await sideBySide(["printf '%s\\n' \"{}\"", ":::", "a b", "it's", "c"]), "\"{}\"")
    }

    @Test("--tag and --tagstring print an argument's bytes as given, not UTF-8 too")
    func tagBytes() async throws {
        let items: [UInt8] = Array("caf".utf8) + [0xE9] + Array("\0plain\0\u{FF}x\0".utf8) + [0xFF, 0x00]
        expectSame(try await sideBySide(["-0", "--tag", "printf '%s\\n' {}"], stdin: items), "--tag, bytes")
        expectSame(try await sideBySide(["-0", "--tagstring", "<{}>", "printf '%s\\n' {}"], stdin: items), "--tagstring, bytes")
    }

    @Test("the joblog's Command column: the same bytes (quotes, tabs, a newline written as NUL, not UTF-8)")
    func joblogCommand() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(
            ["printf '%s\\n' {} >/dev/null", ":::"] + hostile,
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(r, "joblog run")
        let gnu = joblogBytes(dir.file("gnu"))
        #expect(gnu.count == hostile.count + 1, "\(shown(gnu))")
        #expect(joblogBytes(dir.file("pp")) == gnu, "GNU:\n\(shown(gnu))\nppdash:\n\(shown(joblogBytes(dir.file("pp"))))")
        let z = try await sideBySide(
            ["-0", "printf '%s' {} >/dev/null"], stdin: nulItems,
            gnuExtra: ["--joblog", dir.file("gnu0")], ppdashExtra: ["--joblog", dir.file("pp0")])
        expectSame(z, "joblog -0 run")
        let gnu0 = joblogBytes(dir.file("gnu0"))
        #expect(gnu0.count == 6, "\(shown(gnu0))")
        #expect(joblogBytes(dir.file("pp0")) == gnu0, "GNU:\n\(shown(gnu0))\nppdash:\n\(shown(joblogBytes(dir.file("pp0"))))")
    }
}

@Suite("Side by side: --timeout N% of the median run time", .endToEndSlot)
struct GNUTimeoutPercentSideBySideTests {
    @Test("one task far longer than the median is killed (its output kept); exit 1; joblog -1 15")
    func longTaskKilled() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        // One engine: the three short tasks set the median; the 30 s one is killed at 300% of it.
        let r = try await sideBySide(
            ["-j1", "--timeout", "300%", "echo {}; sleep {}", ":::", "0.1", "0.1", "0.1", "30", "0.1"],
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")], timeout: 60)
        #expect(r.gnu.exitCode == 1 && r.gnu.out == "0.1\n0.1\n0.1\n30\n0.1\n", "\(r.gnu)")
        expectSame(r, "--timeout 300%")
        let gnu = joblogBytes(dir.file("gnu"))
        #expect(gnu.count == 6 && gnu[4][6] == Array("-1".utf8) && gnu[4][7] == Array("15".utf8), "\(shown(gnu))")
        #expect(joblogBytes(dir.file("pp")) == gnu, "\(shown(joblogBytes(dir.file("pp"))))")
    }

    @Test("a long task started before any task succeeded is killed once one has (the limit follows the median)")
    func limitComesLater() async throws {
        let r = try await sideBySide(
            ["-j2", "--timeout", "400%", "echo {}; sleep {}", ":::", "30", "0.2", "0.2", "0.2"], timeout: 60)
        #expect(r.gnu.exitCode == 1 && r.gnu.out == "30\n0.2\n0.2\n0.2\n", "\(r.gnu)")
        expectSame(r, "--timeout 400%, long task first")
    }

    @Test("no task succeeds: nothing is killed (GNU parallel has no median yet); time units: 1m is 60 s")
    func noMedianNoLimit() async throws {
        expectSame(try await sideBySide(["-j1", "--timeout", "150%", "sleep 0.3; exit {}", ":::", "1", "2"]), "all fail")
        expectSame(try await sideBySide(["--timeout", "1m", "echo {}", ":::", "a", "b"]), "--timeout 1m")
    }
}

@Suite("Side by side: --resume, --shuf and --delay with input read as it comes", .endToEndSlot)
struct GNUStdinJobControlSideBySideTests {
    static let lines = Array("a\nb\nc\nd\ne\n".utf8)

    @Test("--shuf on stdin: every line once, {#} numbers the new order")
    func shuf() async throws {
        let r = try await sideBySide(["--shuf", "echo {#}"], stdin: Self.lines)
        #expect(r.gnu.out == "1\n2\n3\n4\n5\n", "\(r.gnu)")
        expectSame(r, "--shuf {#} on stdin")
        let s = try await sideBySide(["--shuf", "echo {}"], stdin: Self.lines)
        #expect(s.gnu.outLines.sorted() == s.ppdash.outLines.sorted() && s.ppdash.exitCode == 0, "\(s.ppdash)")
        let f = try await sideBySide(["--shuf", "echo {}", "::::", "in"], files: ["in": Self.lines])
        #expect(f.gnu.outLines.sorted() == f.ppdash.outLines.sorted() && f.ppdash.exitCode == 0, "\(f.ppdash)")
    }

    @Test("--resume on stdin: a second run skips the Seqs the joblog has; the joblogs agree")
    func resume() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let extra = (gnu: ["--joblog", dir.file("gnu")], pp: ["--joblog", dir.file("pp")])
        expectSame(try await sideBySide(["echo {}"], stdin: Array("a\nb\n".utf8), gnuExtra: extra.gnu, ppdashExtra: extra.pp), "first")
        let second = try await sideBySide(["--resume", "echo {} {#}"], stdin: Self.lines, gnuExtra: extra.gnu, ppdashExtra: extra.pp)
        #expect(second.gnu.out == "c 3\nd 4\ne 5\n", "\(second.gnu)")
        expectSame(second, "--resume on stdin")
        #expect(joblogBytes(dir.file("pp")) == joblogBytes(dir.file("gnu")), "\(shown(joblogBytes(dir.file("pp"))))")
    }

    @Test("--resume-failed on stdin: the failed and the new run again; exit status counts this run")
    func resumeFailed() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let extra = (gnu: ["--joblog", dir.file("gnu")], pp: ["--joblog", dir.file("pp")])
        let input = Array("0\n1\n2\n".utf8)
        expectSame(try await sideBySide(["echo {}; exit {}"], stdin: input, gnuExtra: extra.gnu, ppdashExtra: extra.pp), "first")
        let dry = try await sideBySide(
            ["--dry-run", "--resume-failed", "echo {}; exit {}"], stdin: input + Array("3\n".utf8), gnuExtra: extra.gnu, ppdashExtra: extra.pp)
        #expect(dry.gnu.out == "echo 1; exit 1\necho 2; exit 2\necho 3; exit 3\n", "\(dry.gnu)")
        expectSame(dry, "--dry-run --resume-failed on stdin")
        let second = try await sideBySide(
            ["--resume-failed", "echo {}; exit {}"], stdin: input + Array("3\n".utf8), gnuExtra: extra.gnu, ppdashExtra: extra.pp)
        #expect(second.gnu.out == "1\n2\n3\n" && second.gnu.exitCode == 3, "\(second.gnu)")
        expectSame(second, "--resume-failed on stdin")
        #expect(joblogBytes(dir.file("pp")) == joblogBytes(dir.file("gnu")), "\(shown(joblogBytes(dir.file("pp"))))")
    }

    @Test("--delay on stdin: the same output; the joblog's starts are at least the delay apart")
    func delay() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(
            ["-j3", "--delay", "0.2", "echo {}"], stdin: Array("a\nb\nc\nd\n".utf8),
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(r, "--delay on stdin")
        let text = String(decoding: FileManager.default.contents(atPath: dir.file("pp")) ?? Data(), as: UTF8.self)
        let times = text.split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: "\t")[2]) }.sorted()
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(times.count == 4 && gaps.allSatisfy { $0 >= 0.199 }, "start gaps \(gaps)")
    }

    @Test("--delay with --resume (:::): skipped Seqs, the rest spaced; the joblogs agree")
    func delayResume() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let extra = (gnu: ["--joblog", dir.file("gnu")], pp: ["--joblog", dir.file("pp")])
        expectSame(try await sideBySide(["echo {}", ":::", "a", "b"], gnuExtra: extra.gnu, ppdashExtra: extra.pp), "first")
        let r = try await sideBySide(
            ["--delay", "0.1", "--resume", "echo {} {#}", ":::", "a", "b", "c", "d"], gnuExtra: extra.gnu, ppdashExtra: extra.pp)
        #expect(r.gnu.out == "c 3\nd 4\n", "\(r.gnu)")
        expectSame(r, "--delay --resume")
        #expect(joblogBytes(dir.file("pp")) == joblogBytes(dir.file("gnu")), "\(shown(joblogBytes(dir.file("pp"))))")
    }
}

@Suite("GNU parallel's surface: -n refused, input bounds, the README's refused rows", .endToEndSlot)
struct GNUSurfaceRefusalTests {
    @Test("a value option last on the line is one line and exit 2 (it trapped); 20,000 ::: values all reach the tasks, in order")
    func argvEdges() async throws {
        for last in ["-j", "--timeout", "--journal", "-S"] {
            let r = await PPDash.run(["run", last], stdin: [])
            #expect(r.exitCode == 2 && r.errLines.count == 1 && !r.err.contains("crashed"), "run \(last): \(r)")
        }
        // The argument library copied each word after the template's first in time quadratic in their count (8,000
        // values took 5.7 s, 20,000 about 35 s): they are now handed over as given.
        let values = (1...20_000).map(String.init)
        let r = await PPDash.run(["run", "--dry-run", "-k", "--", "echo", "-n", "{}", ":::"] + values, stdin: [], timeout: 60)
        #expect(r.exitCode == 0, "\(r.exitCode) \(r.err)")
        #expect(r.out == values.map { "echo -n \($0)" }.joined(separator: "\n") + "\n", "\(r.out.prefix(200))")
        // A separator word that is an option's value stays that value (the line is then parsed whole).
        let colsep = await PPDash.run(["run", "--dry-run", "-k", "--colsep", ":::", "--", "echo", "{2}", ":::", "a:::b", "c:::d"], stdin: [])
        #expect(colsep.exitCode == 0 && colsep.out == "echo b\necho d\n", "\(colsep)")
    }

    @Test("run -n N and resume -n N are refused in one line naming -j and -N; the dashboard keeps -n")
    func nRefused() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let mark = dir.file("ran")
        for args in [["run", "-n", "2"], ["run", "-n2"], ["run", "--no-journal", "-n", "x"], ["run", "-k", "-n", "4"]] {
            let r = await PPDash.run(args + ["touch \(mark)", ":::", "1"], stdin: [])
            #expect(r.exitCode == 2 && r.errLines.count == 1 && r.out.isEmpty, "\(args): \(r)")
            #expect(r.err.contains("-n is not supported") && r.err.contains("-j N") && r.err.contains("-N N"), "\(r)")
        }
        let resume = await PPDash.run(["resume", dir.file("nojournal"), "-n", "2"], stdin: [])
        #expect(resume.exitCode == 2 && resume.errLines.count == 1 && resume.err.contains("-n is not supported"), "\(resume)")
        // `-n` after the template is the template's (echo -n), never refused.
        let echo = await PPDash.run(["run", "--no-journal", "-k", "-j", "1", "echo", "-n", "{}", ":::", "x"], stdin: [])
        #expect(echo.exitCode == 0 && echo.out == "x", "\(echo)")
        // The dashboard's -n is its engine count: a bad count is its own error, not the refusal.
        let dash = await PPDash.run(["-n", "0"], stdin: [])
        #expect(dash.exitCode == 2 && !dash.err.contains("not supported"), "\(dash)")
        #expect(!FileManager.default.fileExists(atPath: mark), "a refused -n ran a task")
    }

    @Test("--shuf reads all its input first: past its bound (1,000,000 tasks; 100 through the test hook) it is refused in one line, nothing run")
    func shufBound() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let env = ["PPDASH_TEST_SHUF_MAX": "100"]
        let args = ["run", "--no-journal", "--shuf", "touch \(dir.path)/ran-{}"]
        let over = await PPDash.run(args, env: env, stdin: Array((1...101).map { "\($0)\n" }.joined().utf8), timeout: 30)
        #expect(over.exitCode == 2 && over.errLines.count == 1 && over.out.isEmpty, "\(over)")
        #expect(over.err.contains("--shuf") && over.err.contains("more than 100 tasks"), "\(over)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.isEmpty == true, "a task ran")
        let within = await PPDash.run(args, env: env, stdin: Array((1...100).map { "\($0)\n" }.joined().utf8), timeout: 30)
        #expect(within.exitCode == 0 && dir.exists("ran-1") && dir.exists("ran-100"), "\(within)")
    }

    /// The README's "Coming from GNU parallel" tables: every option of a row whose ppdash column says "refused".
    static func refusedOptions() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = text.range(of: "\n## Coming from GNU parallel\n") else { return [] }
        let section = text[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        var out = [String]()
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[2].hasPrefix("refused") else { continue }
            // Each `code` span of the first column: its first word.
            let spans = cells[1].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }
            for (_, span) in spans {
                if let w = span.split(separator: " ").first { out.append(String(w)) }
            }
        }
        return out
    }

    @Test("every option the README's GNU parallel tables call refused: exit 2, one line naming it, nothing run")
    func readmeRefusedRows() async throws {
        let options = try Self.refusedOptions()
        #expect(options.count >= 40 && options.contains("--pipe") && options.contains("-n") && options.contains("-X"), "\(options)")
        let dir = TempDir()
        defer { dir.remove() }
        let mark = dir.file("ran")
        var pending = options[...]
        while !pending.isEmpty {
            let slice = pending.prefix(8)
            pending = pending.dropFirst(8)
            await withTaskGroup(of: (String, RunResult).self) { group in
                for o in slice {
                    // `{=` is a template's: the perl expression row.
                    let args = o.hasPrefix("{") ? ["echo {= 1 =}", ":::", "1"] : [o, "touch \(mark)", ":::", "1"]
                    group.addTask { (o, await PPDash.run(["run", "--no-journal"] + args, stdin: [], timeout: 30)) }
                }
                for await (o, r) in group {
                    let named = o.hasPrefix("{") ? r.err.contains("{=") : r.err.contains(o)
                    #expect(r.exitCode == 2 && r.errLines.count == 1 && r.out.isEmpty && named, "\(o): \(r)")
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: mark), "a refused option ran a task")
    }
}

/// Serves `text` through the FIFO `path` (the test hooks PPDASH_TEST_MEMINFO / PPDASH_TEST_LOADAVG): each time
/// ppdash opens it to read, it gets `text` and EOF. Returns after `rounds` reads, or false at `deadline`.
private func serve(_ path: String, _ text: String, rounds: Int, until child: Child, deadline: Double) async -> Bool {
    var served = 0
    while served < rounds {
        if now() > deadline || child.result != nil { return false }
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            // ENXIO: no reader yet; poll again soon.
            try? await Task.sleep(nanoseconds: 5_000_000)
            continue
        }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        served += 1
        // Let the reader see EOF and close before the next open (else a second write joins this read).
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return true
}

@Suite("--memfree and --load hold dispatch", .endToEndSlot)
struct DispatchHoldE2ETests {
    /// Runs a batch whose host (through the FIFO test hook `variable`) is first short, then not: no task starts
    /// while short (no file, an empty joblog), and every task starts after the test said "not short".
    func holds(option: [String], variable: String, short: String, fine: String) async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let fifo = dir.file("hook")
        #expect(mkfifo(fifo, 0o600) == 0)
        let child = try #require(
            PPDash.start(
                ["run", "--no-journal", "-j", "2"] + option + ["--joblog", dir.file("log"), "touch \(dir.path)/ran-{}", ":::", "1", "2", "3"],
                env: [variable: fifo], timeout: 60))
        let deadline = now() + 45
        // Three reads that say "short": the first before the batch is submitted, the others by the checking thread.
        let held = await serve(fifo, short, rounds: 3, until: child, deadline: deadline)
        #expect(held, "ppdash did not read the hook three times: \(String(describing: child.result))")
        let ran = (try? FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("ran-") }) ?? []
        #expect(ran.isEmpty, "tasks started while the host was short: \(ran)")
        let released = Date().timeIntervalSince1970
        // Then "fine" until the batch ends.
        while child.result == nil && now() < deadline {
            _ = await serve(fifo, fine, rounds: 1, until: child, deadline: min(deadline, now() + 1))
        }
        let r = await child.wait()
        #expect(r.exitCode == 0 && r.err.contains("holding new tasks"), "\(r)")
        for k in 1...3 { #expect(FileManager.default.fileExists(atPath: dir.file("ran-\(k)")), "task \(k) ran") }
        let starts = String(decoding: FileManager.default.contents(atPath: dir.file("log")) ?? Data(), as: UTF8.self)
            .split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: "\t")[2]) }
        #expect(starts.count == 3 && starts.allSatisfy { $0 >= released - 0.002 }, "starts \(starts), released at \(released)")
    }

    @Test("--memfree: no task starts while MemAvailable is below SIZE; all run once it is not")
    func memfree() async throws {
        try await holds(
            option: ["--memfree", "1G"], variable: "PPDASH_TEST_MEMINFO",
            short: "MemTotal: 4000000 kB\nMemAvailable:    1024 kB\n", fine: "MemTotal: 4000000 kB\nMemAvailable: 100000000 kB\n")
    }

    @Test("--load: no task starts while the load average is above MAX; all run once it is not")
    func load() async throws {
        try await holds(option: ["--load", "4"], variable: "PPDASH_TEST_LOADAVG", short: "50.00 40.00 30.00 3/200 999\n", fine: "0.10 0.20 0.30 1/200 999\n")
    }
}
