// The journal end to end: SIGKILL then resume, a dropped link (SIGHUP) then attach, and submitting from an attached view.
import Foundation
import Testing

import Glibc

/// The journal's lines as JSON objects (a torn last line is left out).
private func journalLines(_ path: String) -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap {
        (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
    }
}

private func events(_ lines: [[String: Any]], _ name: String) -> [[String: Any]] {
    lines.filter { $0["event"] as? String == name }
}

private func firstArg(_ o: [String: Any]) -> String { (o["args"] as? [String])?.first ?? "?" }

/// Waits up to `timeout` for `condition`, polling every 50 ms.
private func waitFor(_ timeout: Double, _ condition: () -> Bool) async -> Bool {
    let end = now() + timeout
    while !condition() {
        if now() > end { return false }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return true
}

/// A tmux server whose pane execs `args` (so ppdash leads the pane's session, as a login shell's job would).
private func startInTmux(_ args: [String], stateHome: String, width: Int = 110, height: Int = 32) async -> Tmux? {
    guard let bin = PPDash.path else {
        Issue.record(Comment(rawValue: PPDash.notFound))
        return nil
    }
    let cmd = "XDG_STATE_HOME=\(shellQuote(stateHome)) exec " + ([bin] + args).map(shellQuote).joined(separator: " ")
    let (t, r) = await Tmux.start(cmd, width: width, height: height)
    if r.exitCode != 0 {
        Issue.record("tmux new-session failed: \(r)")
        t.kill()
        return nil
    }
    return t
}

@Suite("journal, resume and attach", .serialized)
struct JournalE2ETests {
    @Test("SIGKILL mid-batch: every reported task is in the journal; resume (after orphans) runs exactly the rest")
    func killThenResume() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        // Tasks 1-6 finish at once; 7-9 then sleep (their own process groups outlive ppdash) until `go` exists.
        let template = "if [ {} -gt 6 ] && [ ! -e \(dir.file("go")) ]; then sleep 1\(m); fi; echo out-{}"
        let runArgs = ["-n", "3", "--json", "--", template, ":::", "1..12"]
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        guard let child = PPDash.start(["run", "--journal", journal] + runArgs, timeout: 30) else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        func sleepers() -> [ProcInfo] { processes(matching: "sleep 1\(m)").filter { $0.comm == "sleep" } }
        let ready = await waitFor(15) { sleepers().count == 3 && events(journalLines(journal), "completed").count == 6 }
        #expect(ready, "6 tasks done and 3 sleeping; journal: \(journalLines(journal).count) lines")
        child.signal(SIGKILL)
        let r = await child.wait()
        #expect(r.signal == SIGKILL, "\(r)")

        // Every task ppdash printed is in the journal as completed.
        let printed = r.outLines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let journaled = Set(events(journalLines(journal), "completed").map { "\($0["id"] ?? "")" })
        #expect(printed.count == 6, "\(r)")
        for p in printed { #expect(journaled.contains("\(p["id"] ?? "")"), "task \(p["id"] ?? "") printed but not journaled") }
        #expect(sleepers().count == 3, "the killed ppdash's tasks outlived it")

        // resume refuses to start anything while they run.
        let refused = await PPDash.run(["resume", journal, "-n", "3", "--json"], timeout: 20)
        #expect(refused.exitCode == 1, "\(refused)")
        #expect(refused.err.contains("still run here") && refused.err.contains("--kill-orphans"), "\(refused)")
        #expect(refused.out.isEmpty, "nothing ran\(refused)")
        #expect(events(journalLines(journal), "resume").isEmpty, "nothing appended")
        #expect(sleepers().count == 3)

        // --kill-orphans stops them and runs exactly the rest.
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let resumed = await PPDash.run(["resume", journal, "--kill-orphans", "-n", "3", "--json"], timeout: 30)
        #expect(resumed.exitCode == 0, "\(resumed)")
        #expect(resumed.err.contains("stopped 3 orphaned tasks"), "\(resumed)")
        let rerun = resumed.outLines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(Set(rerun.map(firstArg)) == Set((7...12).map(String.init)), "exactly tasks 7-12 ran again\(resumed)")
        #expect(rerun.count == 6)
        #expect(sleepers().isEmpty, "orphans stopped")

        // The union of the journal's ok results equals a clean run's.
        var union: [String: String] = [:]
        for c in events(journalLines(journal), "completed") where c["status"] as? String == "ok" {
            union[firstArg(c)] = c["stdout"] as? String
        }
        let clean = await PPDash.run(["run", "--no-journal"] + runArgs, timeout: 30)
        #expect(clean.exitCode == 0, "\(clean)")
        var expected: [String: String] = [:]
        for line in clean.outLines {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            expected[firstArg(o)] = o["stdout"] as? String
        }
        #expect(expected.count == 12)
        #expect(union == expected, "journal union \(union) vs clean run \(expected)")

        let ls = await PPDash.run(["ls", "--dir", dir.path], timeout: 10)
        #expect(ls.out.contains("finished, 1 resume") && ls.out.contains("j.jsonl"), "\(ls)")
    }

    @Test("SIGHUP (the link drops): the batch completes, the journal says so, attach shows it live then read-only", .enabled(if: Tmux.available, "tmux is not installed"))
    func hangupThenAttach() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("ppdash/hup.jsonl")  // in the default place, so `attach latest` finds it
        try? FileManager.default.createDirectory(atPath: dir.file("ppdash"), withIntermediateDirectories: true)
        guard let t = await startInTmux(
            ["run", "--journal", journal, "-n", "2", "--", "sleep 0.25; echo {}", ":::", "1..16"], stateHome: dir.path)
        else { return }
        var killed = false
        defer { if !killed { t.kill() } }
        let up = await t.waitFor("q quit", timeout: 15)
        #expect(up.ok, "the dashboard opened\(show(up.screen))")
        guard up.ok else { return }
        let pid = pid_t(await t.display("#{pane_pid}")) ?? -1

        // The link drops: the terminal goes away under ppdash (SIGHUP from the kernel).
        t.kill()
        killed = true
        try? await Task.sleep(for: .milliseconds(300))
        #expect(processTable().first { $0.pid == pid }?.cmdline.isEmpty == false, "ppdash survived the hangup")

        // Log in again: `attach latest` finds it running and shows it live.
        guard let a = await startInTmux(["attach", "latest"], stateHome: dir.path) else { return }
        defer { a.kill() }
        let live = await a.waitFor("q detach", timeout: 10)
        #expect(live.ok, "attached\(show(live.screen))")
        #expect(live.screen.contains { $0.contains("attached (pid \(pid))") }, "a live view of pid \(pid)\(show(live.screen))")
        let done = await a.waitFor("16/16", timeout: 20)
        #expect(done.ok, "the batch completed while attached\(show(done.screen))")
        #expect(kill(pid, 0) == 0, "ppdash stays while a view is attached")
        await a.sendKeys("q")
        let ended = await waitFor(10) { kill(pid, 0) != 0 || processTable().first { $0.pid == pid }?.cmdline.isEmpty == true }
        #expect(ended, "ppdash ended once the batch was done and the view detached")
        let end = events(journalLines(journal), "end").first
        #expect((end?["reason"] as? String)?.hasPrefix("finished; terminal hung up at") == true && int(end?["ok"]) == 16, "the journal says finished after a hangup, 16 ok: \(String(describing: end))")
        #expect(events(journalLines(journal), "completed").count == 16)

        // Attach again: the process is gone, the journal opens read-only and says so.
        guard let b = await startInTmux(["attach", journal], stateHome: dir.path) else { return }
        defer { b.kill() }
        let ro = await b.waitUntil(timeout: 10) { s in s.contains { $0.contains("16/16") } && s.contains { $0.lowercased().contains("read-only") } }
        #expect(ro.ok, "read-only view of the finished batch\(show(ro.screen))")
        await b.sendKeys("q")
    }

    @Test("SIGTERM of a dashboard, SIGINT of a headless run: pending aborted, running signalled, all journaled as aborted", .enabled(if: Tmux.available, "tmux is not installed"))
    func stopSignalsAreJournaled() async {
        let dir = TempDir()
        defer { dir.remove() }
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        func sleepers() -> Int { processes(matching: "sleep 1\(m)").filter { $0.comm == "sleep" }.count }

        let dash = dir.file("term.jsonl")
        guard let t = await startInTmux(
            ["run", "--journal", dash, "-n", "2", "--", "sleep 1\(m)", ":::", "1", "2", "3", "4"], stateHome: dir.path)
        else { return }
        defer { t.kill() }
        #expect(await waitFor(15) { sleepers() == 2 }, "two tasks running")
        let pid = pid_t(await t.display("#{pane_pid}")) ?? -1
        kill(pid, SIGTERM)
        #expect(await waitFor(10) { !events(journalLines(dash), "end").isEmpty }, "the journal was closed")
        let end = events(journalLines(dash), "end").first
        #expect(end?["reason"] as? String == "terminated" && int(end?["aborted"]) == 4, "\(String(describing: end))")
        #expect(events(journalLines(dash), "completed").filter { $0["status"] as? String == "aborted" }.count == 4)
        #expect(await waitFor(5) { sleepers() == 0 }, "no task left running")

        let headless = dir.file("int.jsonl")
        guard let child = PPDash.start(["run", "--journal", headless, "-n", "2", "--", "sleep 1\(m)", ":::", "5", "6", "7"], timeout: 20)
        else { return }
        #expect(await waitFor(15) { sleepers() == 2 }, "two tasks running")
        child.signal(SIGINT)
        let r = await child.wait()
        #expect(r.exitCode == 130, "\(r)")
        let hend = events(journalLines(headless), "end").first
        #expect(hend?["reason"] as? String == "interrupted (SIGINT)" && int(hend?["aborted"]) == 3, "\(String(describing: hend))")
        #expect(await waitFor(5) { sleepers() == 0 }, "no task left running")
    }

    @Test("attach, submit from the attached view, detach, attach again", .enabled(if: Tmux.available, "tmux is not installed"))
    func attachSubmitDetach() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("dash.jsonl")
        guard let d = await startInTmux(["--journal", journal, "-n", "2"], stateHome: dir.path) else { return }
        defer { d.kill() }
        let up = await d.waitFor("q quit", timeout: 15)
        #expect(up.ok, "the dashboard opened\(show(up.screen))")
        guard up.ok else { return }

        guard let a = await startInTmux(["attach", journal], stateHome: dir.path) else { return }
        defer { a.kill() }
        var w = await a.waitFor("q detach", timeout: 10)
        #expect(w.ok, "attached\(show(w.screen))")
        await a.sendKeys("s")
        try? await Task.sleep(for: .milliseconds(200))
        await a.type("echo from-attach-{} ::: 1 2 3")
        await a.sendKeys("Enter")
        w = await a.waitFor("3/3", timeout: 10)
        #expect(w.ok, "the batch submitted from the attached view ran\(show(w.screen))")
        let home = await d.waitFor("from-attach-3", timeout: 10)
        #expect(home.ok, "the dashboard that runs the batch shows it\(show(home.screen))")

        await a.sendKeys("d")
        let gone = await a.waitUntil(timeout: 5) { !$0.contains { $0.contains("q detach") } }
        #expect(gone.ok, "d detached\(show(gone.screen))")

        guard let b = await startInTmux(["attach", journal], stateHome: dir.path) else { return }
        defer { b.kill() }
        w = await b.waitUntil(timeout: 10) { s in s.contains { $0.contains("q detach") } && s.contains { $0.contains("from-attach-2") } }
        #expect(w.ok, "attached again, the batch is there\(show(w.screen))")
        await b.sendKeys("q")

        // Quit the dashboard: the journal holds the three tasks and closes.
        await d.sendKeys("q")
        let closed = await waitFor(10) { !events(journalLines(journal), "end").isEmpty }
        #expect(closed, "the journal was closed")
        let ok = events(journalLines(journal), "completed").filter { ($0["command"] as? String ?? "").contains("from-attach") && $0["status"] as? String == "ok" }
        #expect(ok.count == 3)
    }
}

private func int(_ v: Any?) -> Int? {
    if let i = v as? Int { return i }
    if let d = v as? Double, d == d.rounded() { return Int(d) }
    return nil
}
