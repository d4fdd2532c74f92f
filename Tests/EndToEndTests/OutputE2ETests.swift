// Task output through the built binary: every byte, in order, whatever the bytes and the size; spool files; live lines.
import Foundation
import PPJSON
import Testing

import Glibc

/// Runs the binary with `args` in a fresh state directory (its journals stay in `dir`).
private func ppdash(_ args: [String], dir: TempDir, stdin: [UInt8]? = nil, timeout: Double = 60) async -> RunResult? {
    guard let bin = PPDash.path else {
        Issue.record(Comment(rawValue: PPDash.notFound))
        return nil
    }
    let env = PPDash.baseEnvironment.merging(["XDG_STATE_HOME": dir.path, "TMPDIR": dir.path]) { $1 }
    return await run([bin] + args, env: env, stdin: stdin, directory: dir.path, timeout: timeout)
}

/// `seq 1 n` as bytes.
private func seqBytes(_ n: Int) -> [UInt8] { Array((1...n).map { "\($0)\n" }.joined().utf8) }

/// Every file under `root` whose name ends with `suffix`.
private func files(under root: String, endingWith suffix: String) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
    return e.compactMap { $0 as? String }.filter { $0.hasSuffix(suffix) }.map { root + "/" + $0 }
}

@Suite("task output is whole and byte-exact", .endToEndSlot)
struct OutputE2ETests {
    @Test("a stream far past --max-output is printed whole, in order", arguments: ["local:1", "proc:1"])
    func wholeStream(_ engines: String) async {
        let dir = TempDir()
        defer { dir.remove() }
        guard let r = await ppdash(["run", "-e", engines, "--", "seq 1 200000; : {}", ":::", "1"], dir: dir) else { return }
        #expect(r.exitCode == 0, "exit \(r.exitCode.map(String.init) ?? "-"): \(r.err.prefix(2000))")
        let want = seqBytes(200000)
        #expect(r.stdout.count == want.count, "stdout has \(r.stdout.count) bytes, seq has \(want.count)")
        let same = r.stdout == want
        let firstDiff = zip(r.stdout, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(r.stdout.count, want.count)
        #expect(same, "stdout is seq 1 200000 byte for byte (first difference at byte \(firstDiff + 1))")
    }

    @Test("the spool file beside the journal holds the whole stream (0600)")
    func spoolBesideJournal() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        guard let r = await ppdash(["run", "-j", "1", "--journal", journal, "--", "seq 1 50000; : {}", ":::", "1"], dir: dir)
        else { return }
        #expect(r.exitCode == 0, "\(r)")
        let spool = dir.file("j.spool/1.out")
        let whole = FileManager.default.contents(atPath: spool).map { [UInt8]($0) } == seqBytes(50000)
        #expect(whole, "the spool file \(spool) holds it all")
        var st = stat()
        #expect(stat(spool, &st) == 0 && st.st_mode & 0o777 == 0o600, "mode 0600")
        let completed = (try? String(contentsOfFile: journal, encoding: .utf8))?.split(separator: "\n")
            .first { $0.contains("\"event\":\"completed\"") }
        #expect(completed?.contains("\"stdout_spool\":\"\(spool)\"") == true, "the journal names the spool file: \(completed ?? "none")")
    }

    @Test("gzip output through run decompresses to the input")
    func gzipRoundTrip() async {
        let dir = TempDir()
        defer { dir.remove() }
        let input = seqBytes(100000)
        _ = FileManager.default.createFile(atPath: dir.file("nums"), contents: Data(input))
        guard let r = await ppdash(["run", "--no-journal", "--", "gzip -c {}", ":::", "nums"], dir: dir) else { return }
        #expect(r.exitCode == 0, "\(r.err)")
        _ = FileManager.default.createFile(atPath: dir.file("x.gz"), contents: Data(r.stdout))
        let back = await run(["gunzip", "-c", dir.file("x.gz")])
        let same = back.stdout == input
        #expect(back.exitCode == 0 && same, "gunzip -c gives the input back (\(back.err))")
    }

    @Test("bytes 0x00-0xFF: plain stdout exact, --json's stdout_base64 decodes to them", arguments: ["local:1", "proc:1"])
    func everyByte(_ engines: String) async {
        let dir = TempDir()
        defer { dir.remove() }
        // printf with octal escapes: every byte value once, in order.
        let fmt = (0...255).map { "\\" + String($0, radix: 8) }.joined()
        let cmd = "printf '\(fmt)'; : {}"
        let want = (0...255).map(UInt8.init)
        guard let plain = await ppdash(["run", "-e", engines, "--no-journal", "--", cmd, ":::", "1"], dir: dir) else { return }
        let exact = plain.stdout == want
        #expect(plain.exitCode == 0 && exact, "plain stdout is the 256 bytes\(plain)")
        guard let json = await ppdash(["run", "-e", engines, "--no-journal", "--json", "--", cmd, ":::", "1"], dir: dir)
        else { return }
        #expect(json.exitCode == 0, "\(json)")
        let record = try? JSONValue.parse(Array(json.stdout.split(separator: 10).first ?? []))
        #expect(record?["stdout"]?.string != nil, "the string field stays\(json)")
        let decoded = record?["stdout_base64"]?.string.flatMap(Base64.decode)
        let exactJSON = decoded == want
        #expect(exactJSON, "stdout_base64 decodes to the 256 bytes\(json)")
    }

    @Test("--json names the spool file of a stream past --max-output; it holds every byte")
    func jsonNamesSpool() async {
        let dir = TempDir()
        defer { dir.remove() }
        guard let r = await ppdash(["run", "--no-journal", "--json", "--max-output", "100", "--", "seq 1 1000; : {}", ":::", "1"], dir: dir)
        else { return }
        #expect(r.exitCode == 0, "\(r)")
        let record = try? JSONValue.parse(Array(r.stdout.split(separator: 10).first ?? []))
        let spool = record?["stdout_spool"]?.string
        #expect(spool != nil && record?["stdout_dropped"]?.int == seqBytes(1000).count - 100, "\(r)")
        let whole = spool.flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) } == seqBytes(1000)
        #expect(whole, "the spool file holds every byte\(r)")
        #expect(r.err.contains("spool file"), "stderr says where the kept spool is\(r)")
    }

    @Test("with no journal, plain mode leaves no spool behind")
    func temporarySpoolRemoved() async {
        let dir = TempDir()
        defer { dir.remove() }
        guard let r = await ppdash(["run", "--no-journal", "--max-output", "100", "--", "seq 1 1000; : {}", ":::", "1", "2"], dir: dir)
        else { return }
        #expect(r.exitCode == 0 && r.stdout.count == 2 * seqBytes(1000).count, "\(r)")
        #expect(!dir.contents.contains { $0.hasPrefix("ppdash-spool-") }, "the temporary spool is gone: \(dir.contents)")
    }

    @Test("--line-buffer prints a task's first line before the task ends")
    func lineBuffer() async {
        let dir = TempDir()
        defer { dir.remove() }
        guard let bin = PPDash.path else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        let out = dir.file("out")
        let script = "exec \(shellQuote(bin)) run --no-journal --line-buffer -- 'echo first-{}; sleep 5; echo second-{}' ::: A > \(shellQuote(out))"
        let child = Child.start(["sh", "-c", script], env: PPDash.baseEnvironment.merging(["XDG_STATE_HOME": dir.path]) { $1 }, timeout: 30)
        let deadline = now() + 4
        var seen = ""
        while now() < deadline {
            seen = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if seen.contains("first-A\n") { break }
            usleep(50_000)
        }
        #expect(seen == "first-A\n", "the first line, alone, while the task still runs: \(seen.debugDescription)")
        #expect(child.result == nil, "the task was still running")
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "first-A\nsecond-A\n")
    }
}

@Suite("the detail view tails a running task", .endToEndSlot, .enabled(if: Tmux.available, "tmux is not installed: skipped"))
struct LiveDetailE2ETests {
    @Test("a running task's output so far is in its detail view, titled as such")
    func liveDetail() async {
        guard let bin = PPDash.path else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        let dir = TempDir()
        defer { dir.remove() }
        // A sleep length no other process uses, to find and end the task.
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: m) { kill(p.pid, SIGKILL) } }
        let cmd = [bin, "run", "-j", "1", "--no-journal", "--", "echo live-{}; sleep 3\(m).5; echo after-{}", ":::", "A"]
            .map(shellQuote).joined(separator: " ")
        let (t, r) = await Tmux.start(
            "XDG_STATE_HOME=\(shellQuote(dir.path)) \(cmd); echo EXIT=$?; sleep 30", width: 100, height: 30)
        defer { t.kill() }
        #expect(r.exitCode == 0, "tmux started: \(r)")
        var w = await t.waitUntil(timeout: 15) { s in s.contains { $0.contains("q quit") } }
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        guard w.ok else { return }
        let start = now()
        while processes(matching: m).isEmpty, now() - start < 10 { try? await Task.sleep(for: .milliseconds(50)) }
        #expect(!processes(matching: m).isEmpty, "the task runs")
        await t.sendKeys("Enter")
        // The output line, not the command's own text.
        w = await t.waitUntil(timeout: 10) { s in s.contains { $0.contains("live-A") && !$0.contains("echo") } }
        #expect(w.ok, "the running task's first line is in the detail view\(show(w.screen))")
        let screen = w.screen.joined(separator: "\n")
        #expect(screen.contains("stdout so far: 1 line"), "the section says it is the output so far\(show(w.screen))")
        #expect(screen.contains("running, output so far"), "the title says so\(show(w.screen))")
        let after = w.screen.contains { $0.contains("after-A") && !$0.contains("echo") }
        #expect(!screen.contains("stdout: empty") && !after, "nothing from after the sleep yet\(show(w.screen))")
    }
}
