// The journal end to end: SIGKILL then resume, a dropped link (SIGHUP) then attach, and submitting from an attached view.
import Foundation
import Testing

import Glibc
import PPSystem

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

@Suite("journal, resume and attach", .endToEndSlot, .serialized)
struct JournalE2ETests {
    @Test("SIGKILL mid-batch: every reported task is in the journal; resume (after orphans) runs exactly the rest")
    func killThenResume() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        // Tasks 1-6 finish at once; 7-9 then sleep (their own process groups outlive ppdash) until `go` exists.
        let template = "if [ {} -gt 6 ] && [ ! -e \(dir.file("go")) ]; then sleep 1\(m); fi; echo out-{}"
        let runArgs = ["-j", "3", "--json", "--", template, ":::", "1..12"]
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        func sleepers() -> [ProcInfo] { processes(matching: "sleep 1\(m)").filter { $0.comm == "sleep" } }
        guard
            let (ready, r) = await runKilled(["--journal", journal] + runArgs, within: 15, when: {
                sleepers().count == 3 && events(journalLines(journal), "completed").count == 6
            })
        else { return }
        #expect(ready, "6 tasks done and 3 sleeping; journal: \(journalLines(journal).count) lines")
        #expect(r.signal == SIGKILL, "\(r)")

        // Every task ppdash printed is in the journal as completed.
        let printed = r.outLines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let journaled = Set(events(journalLines(journal), "completed").map { "\($0["id"] ?? "")" })
        #expect(printed.count == 6, "\(r)")
        for p in printed { #expect(journaled.contains("\(p["id"] ?? "")"), "task \(p["id"] ?? "") printed but not journaled") }
        #expect(sleepers().count == 3, "the killed ppdash's tasks outlived it")

        // resume refuses to start anything while they run.
        let refused = await PPDash.run(["resume", journal, "-j", "3", "--json"], timeout: 20)
        #expect(refused.exitCode == 1, "\(refused)")
        #expect(refused.err.contains("still run here") && refused.err.contains("--kill-orphans"), "\(refused)")
        #expect(refused.out.isEmpty, "nothing ran\(refused)")
        #expect(events(journalLines(journal), "resume").isEmpty, "nothing appended")
        #expect(sleepers().count == 3)

        // --kill-orphans stops them and runs exactly the rest.
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let resumed = await PPDash.run(["resume", journal, "--kill-orphans", "-j", "3", "--json"], timeout: 30)
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
            // Tasks wait for the test's go (at most 60 s): the batch cannot end before the hangup and the attach, however
            // slowly this test is scheduled on a loaded machine.
            ["run", "--journal", journal, "-j", "2", "--", "i=0; while [ ! -e \(dir.file("go")) ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo {}", ":::", "1..16"],
            stateHome: dir.path)
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
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
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
            ["run", "--journal", dash, "-j", "2", "--", "sleep 1\(m)", ":::", "1", "2", "3", "4"], stateHome: dir.path)
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
        guard let child = PPDash.start(["run", "--journal", headless, "-j", "2", "--", "sleep 1\(m)", ":::", "5", "6", "7"], timeout: 20)
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

/// Each task's final status in a journal, by its first run's id, from the lines alone (as a script reads them).
private func finalStatuses(_ lines: [[String: Any]]) -> (submitted: [Int: Int], status: [Int: String]) {
    var submitted: [Int: Int] = [:]
    var status: [Int: String] = [:]
    for l in lines {
        guard let e = l["event"] as? String else { continue }
        if e == "submitted", let id = int(l["id"]), l["attempt"] == nil { submitted[id, default: 0] += 1 }
        if e == "completed", let id = int(l["id"]) ?? (l["id"] as? String).flatMap({ Int($0) }) {
            status[id] = l["status"] as? String
        }
    }
    return (submitted, status)
}

@Suite("journal: resume is the same run, journals you can live with, disk errors", .endToEndSlot, .serialized)
struct JournalResumeE2ETests {
    @Test("kill -9 mid-run, resume from elsewhere: --timeout, the ids and the working directory are the run's")
    func resumeKeepsOptionsIdsAndDirectory() async {
        let dir = TempDir()
        defer { dir.remove() }
        let elsewhere = TempDir()
        defer { elsewhere.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: ": \(m)") { kill(p.pid, SIGKILL) } }
        let template = "pwd >> pwds; sleep {}; : \(m)"
        guard
            let (two, _) = await runKilled(
                ["-j", "2", "--timeout", "1", "--journal", journal, "--", template, ":::", "0.1", "0.2", "3", "3", "3", "3"],
                directory: dir.path, within: 30, when: {
                    events(journalLines(journal), "completed").count >= 2 && events(journalLines(journal), "started").count >= 4
                })
        else { return }
        #expect(two, "2 done, 2 running: \(journalLines(journal).count) lines")
        let r = await PPDash.run(["resume", journal, "--kill-orphans"], directory: elsewhere.path, timeout: 30)
        #expect(r.exitCode == 4, "4 tasks time out: GNU parallel's status 4: \(r)")
        #expect(r.err.contains("--timeout 1"), "says it reuses --timeout: \(r)")
        let (submitted, status) = finalStatuses(journalLines(journal))
        #expect(submitted == [1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1], "each task submitted once under its own id: \(submitted)")
        #expect(status == [1: "ok", 2: "ok", 3: "timeout", 4: "timeout", 5: "timeout", 6: "timeout"], "\(status)")
        let resumed = events(journalLines(journal), "submitted").filter { $0["attempt"] != nil }
        let again3to6 = Set(resumed.compactMap { int($0["id"]) })
        #expect(again3to6.isSubset(of: [3, 4, 5, 6]) && again3to6.isSuperset(of: [5, 6]) && resumed.allSatisfy { int($0["attempt"]) == 2 })
        #expect(events(journalLines(journal), "batch").count == 1, "no empty batch for the resume")
        let view = await PPDash.run(["attach", journal], timeout: 20)
        #expect(view.out.contains("tasks: 6, 6 done: 2 ok, 4 failed"), "the read-only view sees 6 tasks: \(view)")
        #expect(!elsewhere.exists("pwds"), "tasks ran in the run's directory, not the resumer's")
        let pwds = (try? String(contentsOfFile: dir.file("pwds"), encoding: .utf8)) ?? ""
        #expect(splitLines(pwds).count >= 6 && Set(splitLines(pwds)) == [(dir.path as NSString).standardizingPath], "\(pwds)")

        // An option given to resume overrides the run's, and says so.
        let again = await PPDash.run(["resume", journal, "--timeout", "5"], directory: elsewhere.path, timeout: 60)
        #expect(again.exitCode == 0, "\(again)")
        #expect(again.err.contains("--timeout (the run had 1)"), "\(again)")
        #expect(finalStatuses(journalLines(journal)).status.values.allSatisfy { $0 == "ok" })
    }

    @Test("resume reuses --timeout N% as a percentage of the median, and says so")
    func resumeKeepsAPercentTimeout() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        // Three 0.1 s successes make the median; the 1 s task passes 300% of it and is stopped (GNU's status 1).
        let r = await PPDash.run(
            ["run", "-j", "1", "--timeout", "300%", "--journal", journal, "--", "sleep {}", ":::", "0.1", "0.1", "0.1", "1"],
            directory: dir.path, timeout: 30)
        #expect(r.exitCode == 1, "one task timed out: \(r)")
        #expect(finalStatuses(journalLines(journal)).status == [1: "ok", 2: "ok", 3: "ok", 4: "timeout"])
        let header = journalLines(journal).first ?? [:]
        let options = header["options"] as? [String: Any] ?? [:]
        #expect((options["timeout_percent"] as? NSNumber)?.doubleValue == 300, "the header keeps 300%: \(header)")
        #expect(options["timeout"] is NSNull, "and no limit in seconds: \(header)")
        // The resume runs the one task alone: no success yet in this run, so (as GNU) no limit applies and it ends ok.
        let again = await PPDash.run(["resume", journal], directory: dir.path, timeout: 30)
        #expect(again.exitCode == 0, "\(again)")
        #expect(again.err.contains("--timeout 300%"), "says it reuses --timeout 300%: \(again)")
        #expect(finalStatuses(journalLines(journal)).status.values.allSatisfy { $0 == "ok" })
    }

    @Test("60 quick runs in a loop all journal, under different names, and exit 0")
    func quickRunsAllJournal() async {
        let state = TempDir()
        defer { state.remove() }
        for i in 0..<60 {
            let r = await PPDash.run(["run", "-j", "1", "--", "true", ":::", "\(i)"], env: ["XDG_STATE_HOME": state.path], timeout: 20)
            #expect(r.exitCode == 0, "run \(i): \(r)")
            if r.exitCode != 0 { break }
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: state.file("ppdash"))) ?? []
        #expect(names.filter { $0.hasSuffix(".jsonl") }.count == 60, "\(names.count) files")
    }

    @Test(
        "runs with the same pid in the same second (pid namespaces: each is pid 1) get different journal names",
        .enabled(if: geteuid() == 0 && system_unshareWorks(), "needs root and a working unshare -pf"))
    func sameSecondSamePid() async {
        let state = TempDir()
        defer { state.remove() }
        guard let bin = PPDash.path else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        for i in 0..<4 {
            let r = await run(
                ["/usr/bin/unshare", "-pf", bin, "run", "-j", "1", "--", "true", ":::", "\(i)"],
                env: PPDash.baseEnvironment.merging(["XDG_STATE_HOME": state.path]) { $1 }, timeout: 20)
            #expect(r.exitCode == 0, "run \(i): \(r)")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: state.file("ppdash"))) ?? []
        #expect(names.filter { $0.hasSuffix(".jsonl") }.count == 4, "\(names)")
    }

    @Test("SIGKILL 0.25 s into a 50,000-task batch: resume (after the orphan check) runs every task not done, once")
    func killEarlyInABigBatch() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        let template = "[ -e go ] || sleep 1\(m); echo {} >> side"
        // Killed as soon as both tasks run (about 0.25 s in): the backlog of submitted lines is still being written.
        guard
            await runKilled(
                ["-j", "2", "--journal", journal, "--", template, ":::", "1..50000"], directory: dir.path, timeout: 60,
                every: 0.005, when: { processes(matching: "sleep 1\(m)").filter({ $0.comm == "sleep" }).count >= 2 }) != nil
        else { return }
        let lines = journalLines(journal)
        // The orphan check sees both running tasks: by their `started` lines (written as each process starts, not
        // behind the backlog of `submitted` lines) or, for one killed between its start and that line, by the
        // run's marker in its environment.
        _ = lines
        let refused = await PPDash.run(["resume", journal], directory: dir.path, timeout: 30)
        #expect(refused.exitCode == 1 && refused.err.contains("2 tasks of the interrupted run still run here"), "\(refused.err.prefix(2000))")
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let r = await PPDash.run(["resume", journal, "--kill-orphans", "-j", "4"], directory: dir.path, timeout: 300)
        #expect(r.exitCode == 0, "\(r.err.suffix(2000))")
        #expect(r.err.contains("50000 tasks to run"), "\(r.err.prefix(2000))")
        let side = (try? String(contentsOfFile: dir.file("side"), encoding: .utf8)) ?? ""
        let ran = splitLines(side)
        #expect(ran.count == 50000 && Set(ran).count == 50000, "\(ran.count) lines, \(Set(ran).count) distinct")
    }

    @Test("a task whose started line never reached the journal is still found by resume (the run's marker) and not run twice")
    func resumeFindsAnUnrecordedOrphan() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        guard
            let (running, _) = await runKilled(
                ["-j", "1", "--journal", journal, "--", "[ -e go ] || sleep 1\(m); echo {} >> side", ":::", "a"],
                directory: dir.path, when: { events(journalLines(journal), "started").count == 1 })
        else { return }
        #expect(running)
        // As if ppdash was killed between the task's start and its `started` line: drop that line.
        let kept = ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { !$0.contains("\"event\":\"started\"") }.joined(separator: "\n") + "\n"
        #expect(FileManager.default.createFile(atPath: journal, contents: Data(kept.utf8)))
        let refused = await PPDash.run(["resume", journal], directory: dir.path, timeout: 30)
        #expect(refused.exitCode == 1 && refused.err.contains("1 task of the interrupted run still run"), "\(refused)")
        #expect(refused.err.contains("did not record"), "\(refused)")
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let r = await PPDash.run(["resume", journal, "--kill-orphans"], directory: dir.path, timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        #expect(processes(matching: "sleep 1\(m)").isEmpty, "the orphan was stopped")
        let side = (try? String(contentsOfFile: dir.file("side"), encoding: .utf8)) ?? ""
        #expect(splitLines(side) == ["a"], "the task ran once: \(side)")
    }

    @Test("what a run that ended left running on purpose (a daemon a task started) is no orphan for resume")
    func aFinishedRunsDaemonIsNoOrphan() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        let r = await PPDash.run(
            ["run", "--journal", journal, "--", "setsid sleep 1\(m) </dev/null >/dev/null 2>&1 & exit {}", ":::", "0", "1"],
            directory: dir.path, timeout: 30)
        #expect(r.exitCode == 1, "\(r)")
        #expect(await waitFor(10) { processes(matching: "sleep 1\(m)").count == 2 })
        let again = await PPDash.run(["resume", journal], directory: dir.path, timeout: 30)
        #expect(!again.err.contains("still run here"), "\(again)")
        #expect(again.exitCode == 1, "the failing task runs again and fails again: \(again)")
        #expect(processes(matching: "sleep 1\(m)").count >= 2, "the daemons were left alone")
    }

    @Test("a resume's spool files never overwrite the first run's: each completed line's spool holds its own task's output")
    func resumeKeepsTheFirstRunsSpools() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        // Tasks 1-3 finish (output past --max-output 10: spooled); 4-6 wait until the first run is killed.
        let template = "seq {}00 {}99; [ {} -le 3 ] || [ -e go ] || sleep 1\(m)"
        guard
            let (three, _) = await runKilled(
                ["-j", "1", "--max-output", "10", "--journal", journal, "--", template, ":::", "1", "2", "3", "4", "5", "6"],
                directory: dir.path, when: { events(journalLines(journal), "completed").count == 3 })
        else { return }
        #expect(three)
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let r = await PPDash.run(["resume", journal, "--kill-orphans"], directory: dir.path, timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        let completed = events(journalLines(journal), "completed")
        #expect(completed.count == 6, "\(completed.count)")
        for c in completed {
            guard let id = int(c["id"]) ?? Int(c["id"] as? String ?? ""), let spool = c["stdout_spool"] as? String else {
                Issue.record("a completed line without its spool: \(c)")
                continue
            }
            let text = (try? String(contentsOfFile: spool, encoding: .utf8)) ?? ""
            #expect(text == (id * 100...id * 100 + 99).map { "\($0)\n" }.joined(), "task \(id)'s spool \(spool) holds its own output")
        }
    }

    @Test("a full disk (ulimit -f): one line at once, no new task starts, exit non-zero; resume re-runs no ok task")
    func fullDiskIsLoud() async {
        let dir = TempDir()
        defer { dir.remove() }
        guard let bin = PPDash.path else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        let journal = dir.file("j.jsonl")
        // 1024 blocks of 512 bytes: the header, 3000 submitted lines and some hundreds of completed ones.
        let cmd = "ulimit -f 1024; exec \(shellQuote(bin)) run -j 2 --journal \(shellQuote(journal)) -- 'echo {} >> side' ::: 1..3000"
        let r = await run(["sh", "-c", cmd], env: PPDash.baseEnvironment, directory: dir.path, timeout: 120)
        #expect(r.exitCode != 0 && r.signal == nil, "\(r.err.suffix(1500))")
        let warnings = splitLines(r.err).filter { $0.contains("cannot write the journal") }
        #expect(warnings.count == 1, "\(r.err.suffix(1500))")
        #expect(r.err.lowercased().contains("file too large"), "\(r.err.suffix(1500))")
        let ranFirst = splitLines((try? String(contentsOfFile: dir.file("side"), encoding: .utf8)) ?? "")
        #expect(ranFirst.count < 3000, "dispatch stopped: \(ranFirst.count) ran")
        let ok = Set(
            events(journalLines(journal), "completed").filter { $0["status"] as? String == "ok" }.map(firstArg))
        #expect(!ok.isEmpty)
        try? FileManager.default.removeItem(atPath: dir.file("side"))
        let resumed = await PPDash.run(["resume", journal, "-j", "4"], directory: dir.path, timeout: 300)
        #expect(resumed.exitCode == 0, "\(resumed.err.suffix(1500))")
        let rerun = splitLines((try? String(contentsOfFile: dir.file("side"), encoding: .utf8)) ?? "")
        #expect(ok.isDisjoint(with: rerun), "resume ran tasks the journal recorded ok")
        #expect(Set(rerun).union(ok) == Set((1...3000).map(String.init)), "every task ran")
        #expect(resumed.err.contains("no outcome in the journal"), "says which tasks are unknown")

        let missing = await PPDash.run(["run", "--journal", "/nonexistent/x.jsonl", "--", "true", ":::", "1"], timeout: 20)
        #expect(missing.exitCode == 2 && splitLines(missing.err).count == 1, "\(missing)")
        #expect(missing.err.contains("/nonexistent/x.jsonl"))
    }

    @Test("a bad line is skipped with a warning by ls, attach and resume; one journal never breaks the others")
    func aBadLineBreaksNothing() async {
        let state = TempDir()
        defer { state.remove() }
        let env: [String: String?] = ["XDG_STATE_HOME": state.path]
        for arg in ["a", "b"] {
            let r = await PPDash.run(["run", "-j", "1", "--", "echo {}; exit {} 2>/dev/null", ":::", arg], env: env, timeout: 20)
            #expect(r.exitCode == 1, "\(r)")
        }
        let dir = state.file("ppdash")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        guard files.count == 2 else {
            Issue.record("\(files)")
            return
        }
        let bad = dir + "/" + files[0]
        let h = FileHandle(forWritingAtPath: bad)
        h?.seekToEndOfFile()
        h?.write(Data("{\"event\":\"completed\",\"id\":\"99999999999999999999\"}\n{\"event\":\"started\",\"id\":1,\"pgid\":\"x\"}\n\0\0\0\n".utf8))
        try? h?.close()
        let ls = await PPDash.run(["ls"], env: env, timeout: 20)
        #expect(ls.exitCode == 0 && ls.signal == nil, "\(ls)")
        #expect(splitLines(ls.out).count == 3, "\(ls)")
        #expect(ls.out.contains("damaged lines"), "\(ls)")
        let attach = await PPDash.run(["attach", bad], env: env, timeout: 20)
        #expect(attach.exitCode == 0 && attach.signal == nil, "\(attach)")
        #expect(attach.err.contains("\(bad): line "), "names file and line: \(attach)")
        let resume = await PPDash.run(["resume", bad, "-j", "1"], env: env, timeout: 20)
        #expect(resume.signal == nil && resume.exitCode == 1, "the task fails again: \(resume)")
        #expect(resume.err.contains("\(bad): line "), "\(resume)")

        let notDir = await PPDash.run(["ls", "--dir", bad], env: env, timeout: 20)
        #expect(notDir.exitCode == 1 && splitLines(notDir.err).count == 1 && notDir.out.isEmpty, "\(notDir)")
    }

    @Test("--journal FILE is registered for ls and attach latest; ls shows the template; ls --prune removes finished ones only")
    func registeredListedPruned() async {
        let state = TempDir()
        defer { state.remove() }
        let other = TempDir()
        defer { other.remove() }
        let env: [String: String?] = ["XDG_STATE_HOME": state.path]
        let named = other.file("mine.jsonl")
        let r1 = await PPDash.run(["run", "-j", "1", "--journal", named, "--", "echo named {}", ":::", "1"], env: env, timeout: 20)
        #expect(r1.exitCode == 0, "\(r1)")
        let r2 = await PPDash.run(["run", "-j", "1", "--", "echo default {}", ":::", "1"], env: env, timeout: 20)
        #expect(r2.exitCode == 0, "\(r2)")
        let ls = await PPDash.run(["ls"], env: env, timeout: 20)
        #expect(ls.out.contains(named) && ls.out.contains("echo named {}") && ls.out.contains("echo default {}"), "\(ls)")
        // The default run's spool (task output past the memory bound) goes with it.
        let plain = ((try? FileManager.default.contentsOfDirectory(atPath: state.file("ppdash"))) ?? []).filter {
            $0.hasSuffix(".jsonl") && (try? FileManager.default.destinationOfSymbolicLink(atPath: state.file("ppdash/" + $0))) == nil
        }
        #expect(plain.count == 1, "\(plain)")
        let spool = state.file("ppdash/" + (plain.first ?? "x.jsonl").dropLast(6) + ".spool")
        try? FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: spool + "/1.out", contents: Data("x".utf8))
        // A running batch: never pruned.
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        guard let running = PPDash.start(["run", "-j", "1", "--", "sleep 1\(m) # {}", ":::", "1"], env: env, timeout: 60) else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        let up = await waitFor(15) { processes(matching: "sleep 1\(m)").contains { $0.comm == "sleep" } }
        #expect(up)
        let latest = await PPDash.run(["attach"], env: env, timeout: 20)
        #expect(latest.out.contains("running"), "attach latest finds the running batch: \(latest)")
        let pruned = await PPDash.run(["ls", "--prune"], env: env, timeout: 20)
        #expect(pruned.exitCode == 0, "\(pruned)")
        #expect(pruned.out.contains("pruned 2 journals"), "\(pruned)")
        #expect(pruned.out.contains("removed ") && pruned.out.contains(".spool"), "says what it removed: \(pruned)")
        #expect(FileManager.default.fileExists(atPath: named), "a journal you named stays; its registry entry goes")
        #expect(!FileManager.default.fileExists(atPath: spool), "the spool went with its journal")
        let after = await PPDash.run(["ls"], env: env, timeout: 20)
        #expect(splitLines(after.out).count == 2 && after.out.contains("running"), "\(after)")
        running.signal(SIGTERM)
        _ = await running.wait()
    }
}

/// Whether `unshare -pf` can make a pid namespace here (root, not a container that forbids it).
func system_unshareWorks() -> Bool {
    guard access("/usr/bin/unshare", X_OK) == 0 else { return false }
    guard let child = try? SpawnPlan(executable: "/usr/bin/unshare", arguments: ["unshare", "-pf", "/bin/true"]).spawn()
    else { return false }
    return child.wait()?.exitCode == 0
}
