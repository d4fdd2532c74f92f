// Streamed inputs end to end: stdin's lines reach tasks before EOF, an endless stdin and a range of ten million run
// in bounded memory, a product of a trillion starts at once, NUL in input, resume of a range batch.
import Foundation
import Testing

import Glibc

/// A field of /proc/PID/status in kB (VmRSS, VmHWM), nil once the process is gone.
private func statusKB(_ pid: pid_t, _ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
    return nil
}

private func readText(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
private func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = now() + seconds
    while now() < end {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// ppdash's pid, written by the `sh` that execs it inside a pipeline.
private func pid(in file: String) -> pid_t? {
    pid_t(readText(file).trimmingCharacters(in: .whitespacesAndNewlines))
}

@Suite("StreamE2E", .endToEndSlot, .serialized)
struct StreamE2ETests {
    /// `producer | ppdash run ARGS...` in a session of its own; ppdash's pid lands in `pidFile`.
    private func pipeline(_ producer: String, _ args: [String], pidFile: String, timeout: Double) -> Child? {
        guard let path = PPDash.path else { return nil }
        let script = "\(producer) | sh -c 'echo $$ > \"$0\"; exec \"$@\"' \(shellQuote(pidFile)) \(shellQuote(path)) "
            + args.map(shellQuote).joined(separator: " ")
        return Child.start(["/bin/sh", "-c", script], env: PPDash.baseEnvironment, timeout: timeout)
    }

    @Test("a stdin line reaches its task before stdin ends (the pipe is held open)")
    func lineBeforeEOF() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let out = dir.file("out")
        let child = try #require(
            pipeline(
                "(echo first; sleep 20; echo second)", ["run", "--no-journal", "--", "echo {} >> \(shellQuote(out))"],
                pidFile: dir.file("pid"), timeout: 40), Comment(rawValue: PPDash.notFound))
        let reached = waitFor(10) { readText(out).contains("first") }
        child.signal(SIGTERM, group: true)
        let r = await child.wait()
        #expect(reached, "the first line did not reach a task within 10 s while stdin was open: \(r)")
        #expect(!readText(out).contains("second"))
    }

    @Test("an endless stdin (yes |) runs tasks in bounded memory; SIGTERM ends it with one summary line")
    func endlessStdinBounded() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let child = try #require(
            pipeline("yes", ["run", "-j", "2", "--no-journal", "--", "true"], pidFile: dir.file("pid"), timeout: 40),
            Comment(rawValue: PPDash.notFound))
        var ppdash: pid_t?
        _ = waitFor(10) {
            ppdash = pid(in: dir.file("pid"))
            return ppdash != nil
        }
        var peak = 0
        if let ppdash {
            // Sampled over 6 s: the old reader grew ~120 MB/s reading it all before anything ran.
            let end = now() + 6
            while now() < end, let rss = statusKB(ppdash, "VmRSS") {
                peak = max(peak, rss)
                usleep(100_000)
            }
            kill(ppdash, SIGTERM)
        }
        let r = await child.wait()
        child.signal(SIGKILL, group: true)
        #expect(ppdash != nil, "no pid: \(r)")
        #expect(peak > 0 && peak < 100_000, "peak VmRSS \(peak) kB: \(r)")
        let last = r.errLines.last ?? ""
        #expect(last.contains("stopped by SIGTERM") && last.contains("ok"), "\(r)")
        #expect(!last.contains(" 0 ok,"), "no task ran: \(r)")
    }

    @Test("a range of ten million costs nothing until dispatched: VmHWM stays small; SIGTERM prints one line")
    func tenMillionRange() async throws {
        let child = try #require(
            PPDash.start(["run", "-j", "2", "--no-journal", "--", "true", ":::", "1..10000000"], timeout: 40),
            Comment(rawValue: PPDash.notFound))
        var started = false
        var hwm = 0
        started = waitFor(10) { (statusKB(child.pid, "VmHWM") ?? 0) > 0 }
        usleep(2_000_000)
        hwm = statusKB(child.pid, "VmHWM") ?? 0
        child.signal(SIGTERM)
        let r = await child.wait()
        #expect(started, "\(r)")
        #expect(hwm > 0 && hwm < 100_000, "VmHWM \(hwm) kB after 2 s: \(r)")
        #expect(r.exitCode == 128 + SIGTERM, "\(r)")
        // One summary line, counting all ten million; no line per pending task.
        #expect(r.errLines.count <= 4, "\(r)")
        #expect(r.errLines.last?.contains("10000000 tasks") == true, "\(r)")
    }

    @Test("--halt now on a range of ten million: the first failure ends it at once, counting all ten million")
    func tenMillionHalt() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = await PPDash.run(
            ["run", "-j", "2", "--no-journal", "--halt", "now", "--", "exit {}", ":::", "1..10000000"], timeout: 30)
        #expect(r.exitCode == 1 || r.exitCode == 2, "the failing task's own status (task 1 or 2 fails first)\(r)")
        #expect(r.elapsed < 20, "\(r)")
        #expect(r.errLines.last?.contains("10000000 tasks") == true, "\(r)")
    }

    @Test("a product of a trillion starts at once and runs its first tasks; its count is shown")
    func trillionProduct() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let out = dir.file("out")
        let child = try #require(
            PPDash.start(
                ["run", "-j", "2", "--no-journal", "--", "echo {1}-{2} >> \(shellQuote(out))", ":::", "1..1000000", ":::", "1..1000000"],
                timeout: 40), Comment(rawValue: PPDash.notFound))
        let ran = waitFor(10) { readText(out).contains("1-2\n") }
        child.signal(SIGTERM)
        let r = await child.wait()
        #expect(ran, "\(r)")
        #expect(r.exitCode == 128 + SIGTERM, "\(r)")
        #expect(r.errLines.last?.contains("1000000000000 tasks") == true, "\(r)")
        // Past Int.max: refused with one line, exit 2.
        let big = await PPDash.run(
            ["run", "--no-journal", "--", "true", ":::", "1..10000000000", ":::", "1..10000000000"], timeout: 10)
        #expect(big.exitCode == 2, "\(big)")
        #expect(big.err.contains("over 9,223,372,036,854,775,807 tasks"), "\(big)")
    }

    @Test("a NUL in a stdin line cuts it there, said once on stderr; -0 reads NUL-separated items")
    func nulInInput() async {
        let lines = await PPDash.run(["run", "-j", "1", "--no-journal", "--", "echo {}"], stdin: Array("a\0b\nc\n".utf8), timeout: 30)
        #expect(lines.exitCode == 0, "\(lines)")
        #expect(Set(lines.outLines) == ["a", "c"], "\(lines)")
        #expect(lines.err.contains("line 1 of stdin holds a NUL byte"), "\(lines)")
        let items = await PPDash.run(["run", "-j", "1", "-0", "--no-journal", "--", "echo {}"], stdin: Array("a b\0c\nd\0".utf8), timeout: 30)
        #expect(items.exitCode == 0, "\(items)")
        #expect(Set(items.outLines) == ["a b", "c", "d"], "\(items)")
    }

    @Test("resume of a stopped range batch runs every task not done, those never submitted too, none twice")
    func resumeRange() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let out = dir.file("out")
        let stop = dir.file("stop")
        let journal = dir.file("j.jsonl")
        let template = "echo {} >> \(shellQuote(out)); [ -e \(shellQuote(stop)) ] || sleep 10"
        let child = try #require(
            PPDash.start(["run", "-j", "2", "--journal", journal, "--", template, ":::", "1..6000"], timeout: 40),
            Comment(rawValue: PPDash.notFound))
        let began = waitFor(10) { readText(out).split(separator: "\n").count == 2 }
        child.signal(SIGTERM)
        let first = await child.wait()
        #expect(began, "\(first)")
        // The header holds the range, not six thousand values.
        let header = readText(journal).split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.contains(#""args":[[{"range":[1,6000]}]]"#), "\(header.prefix(2000))")
        #expect(FileManager.default.createFile(atPath: stop, contents: nil))
        let r = await PPDash.run(["resume", journal, "-j", "4"], timeout: 60)
        #expect(r.exitCode == 0, "\(r)")
        let done = readText(out).split(separator: "\n").map(String.init)
        // Tasks 1 and 2 ran twice (stopped, then resumed); every other task once.
        #expect(done.count == 6002, "\(done.count) lines: \(r)")
        #expect(Set(done).count == 6000, "\(r)")
    }

    @Test("resume of a stdin run stopped before stdin ended runs the lines it read and says the rest is gone")
    func resumeStdinRun() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let out = dir.file("out")
        let journal = dir.file("j.jsonl")
        let child = try #require(
            pipeline(
                "(printf 'a\\nb\\n'; sleep 20; echo never)",
                ["run", "-j", "1", "--journal", journal, "--", "echo {} >> \(shellQuote(out)); sleep 10"],
                pidFile: dir.file("pid"), timeout: 40), Comment(rawValue: PPDash.notFound))
        var ppdash: pid_t?
        let began = waitFor(10) {
            ppdash = pid(in: dir.file("pid"))
            return ppdash != nil && readText(out).contains("a")
        }
        if let ppdash { kill(ppdash, SIGTERM) }
        let ended = waitFor(10) { readText(journal).contains(#""event":"end""#) }
        child.signal(SIGKILL, group: true)
        let first = await child.wait()
        #expect(began && ended, "\(first)")
        #expect(readText(journal).contains("stdin not read to its end"), "\(readText(journal))")
        let r = await PPDash.run(["resume", journal, "-j", "2"], timeout: 40)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.err.contains("ended before stdin did"), "\(r)")
        #expect(r.err.contains("2 tasks to run"), "\(r)")
        #expect(!readText(out).contains("never"))
    }
}
