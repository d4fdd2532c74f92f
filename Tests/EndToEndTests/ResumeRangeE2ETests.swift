// `resume` of a huge range killed early: the tasks never submitted are made as they are dispatched (as `run` makes
// them), not planned up front; every task runs once, in order.
import Foundation
import Testing

import Glibc
import PPSystem

@Suite("resume of a huge range", .endToEndSlot, .serialized)
struct ResumeRangeE2ETests {
    private func waitFor(_ timeout: Double, _ condition: () -> Bool) async -> Bool {
        let end = now() + timeout
        while !condition() {
            if now() > end { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// `run -j 2 --journal J ... ::: 1..10000000` in `dir`, SIGKILLed once its two first tasks run (each waits in
    /// `sleep 1M` until `go` exists, made here after the kill). False (recorded) when ppdash is not built.
    private func killTenMillionEarly(_ dir: TempDir, journal: String, marker m: String) async -> Bool {
        let template = "[ -e go ] || sleep 1\(m); echo {} >> side"
        guard
            let (running, _) = await runKilled(
                ["-j", "2", "--journal", journal, "--", template, ":::", "1..10000000"], directory: dir.path, timeout: 60,
                when: { processes(matching: "sleep 1\(m)").filter { $0.comm == "sleep" }.count >= 2 })
        else { return false }
        #expect(running)
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        return true
    }

    @Test("SIGKILL early in ::: 1..10000000, then resume: 10,000,000 tasks to run, streamed from task 1, none twice")
    func killedTenMillionResumes() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        guard await killTenMillionEarly(dir, journal: journal, marker: m) else { return }
        // The resume streams from task 1 (the two killed tasks first); stopped once 3,000 tasks have run.
        guard
            let resume = PPDash.start(
                ["resume", journal, "--kill-orphans", "-j", "4"], directory: dir.path, timeout: 120)
        else { return }
        let progressed = await waitFor(90) { splitLines(readSide(dir)).count >= 3000 }
        // Its memory while it runs: the table holds the few tasks the killed run wrote, not ten million.
        let rss = residentKiB(resume.pid)
        resume.signal(SIGTERM)
        let r = await resume.wait()
        #expect(progressed, "\(r.err.suffix(2000))")
        #expect(r.err.contains(": 10000000 tasks to run, 0 already ok"), "\(r.err.prefix(2000))")
        #expect(r.err.contains("10000000 tasks have no outcome in the journal (1, 2, 3"), "\(r.err.prefix(2000))")
        let ran = splitLines(readSide(dir)).compactMap { Int($0) }
        #expect(ran.count == Set(ran).count, "a task ran twice")
        // Dispatched in order: the first 2,000 all ran (a few at the end were running when it was stopped).
        #expect(Set(ran).isSuperset(of: 1...2000), "\(ran.prefix(20))")
        // In order, whatever the rate: below the highest task that ran, only the few running at the stop are missing
        // (4 engines), never tasks taken from anywhere in the ten million. (A bound on the highest task was a race
        // between the poll and the rate.)
        let top = ran.max() ?? 0
        #expect(ran.allSatisfy { $0 >= 1 } && top - ran.count <= 16, "highest \(top), \(ran.count) ran")
        // Not a figure (the bench has it): a bound far below the ~1 GB a row a task would take.
        if let rss { #expect(rss < 300_000, "\(rss) KiB resident while resuming") }
        // Stopped early, the resume counts every task it was to run, those never made too (aborted, as `run` does):
        // its summary and ls say 10,000,000, not the few thousand made.
        #expect(r.err.contains("stopped by SIGTERM: 10000000 tasks: "), "\(r.err.suffix(1000))")
        let ls = await PPDash.run(["ls", "--dir", dir.path], timeout: 20)
        let row = ls.outLines.first { $0.contains("j.jsonl") } ?? ""
        let cells = row.split(separator: " ", omittingEmptySubsequences: true)
        #expect(row.contains("terminated") && cells.contains("10000000") && cells.contains("0"), "\(ls)")
    }

    @Test("the same resume in the dashboard: the tail made as it runs (memory of the tasks made, not 10M), in order")
    func dashboardResumesTheRangeLazily() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        guard await killTenMillionEarly(dir, journal: journal, marker: m), let bin = PPDash.path else { return }
        let cmd = "cd \(shellQuote(dir.path)) && exec " + [bin, "resume", journal, "--kill-orphans", "-j", "4"].map(shellQuote).joined(separator: " ")
        let (t, r0) = await Tmux.start(cmd, width: 110, height: 32)
        defer { t.kill() }
        guard r0.exitCode == 0 else {
            Issue.record("tmux new-session failed: \(r0)")
            return
        }
        let progressed = await waitFor(90) { splitLines(readSide(dir)).count >= 3000 }
        let shown = await t.waitFor("/10M")
        let pid = processes(matching: "resume \(journal)").first { $0.comm == "ppdash" }?.pid
        let rss = pid.flatMap(residentKiB)
        // The prompt takes no batch while the tail is being made (its ids must stay 1... in order).
        await t.sendKeys("s")
        await t.type("echo {} ::: a")
        await t.sendKeys("Enter")
        let refused = await t.waitFor("still being submitted")
        await t.sendKeys("Escape")
        await t.sendKeys("q")
        _ = await t.waitFor("Quit?")
        await t.sendKeys("y")
        _ = await t.waitForExit(timeout: 20)
        #expect(progressed && shown.ok, "\(show(shown.screen))")
        #expect(refused.ok, "\(show(refused.screen))")
        let ran = splitLines(readSide(dir)).compactMap { Int($0) }
        #expect(ran.count == Set(ran).count, "a task ran twice")
        #expect(Set(ran).isSuperset(of: 1...2000), "\(ran.prefix(20))")
        let top = ran.max() ?? 0
        #expect(top - ran.count <= 16, "highest \(top), \(ran.count) ran")
        // Submitted whole, 10M tasks took gigabytes before the first frame.
        #expect(rss != nil && rss! < 300_000, "\(rss ?? -1) KiB resident while resuming in the dashboard")
    }

    private func readSide(_ dir: TempDir) -> String {
        (try? String(contentsOfFile: dir.file("side"), encoding: .utf8)) ?? ""
    }

    private func residentKiB(_ pid: pid_t) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").compactMap { Int($0) }.first
        }
        return nil
    }
}
