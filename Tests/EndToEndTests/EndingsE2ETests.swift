// How `ppdash run` ends in every mode: a hangup lets the batch run on, SIGQUIT and SIGTERM stop it with one summary
// line, leaving the dashboard gives the headless exit status and prints the outputs.
import Foundation
import PPSystem
import Testing

import Glibc

private func lines(of path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

/// The journal's `end` line, if written.
private func endLine(_ journal: String) -> String? { lines(of: journal).last { $0.contains("\"event\":\"end\"") } }

/// Waits up to `timeout` for `condition`, polling every 50 ms.
private func waitFor(_ timeout: Double, _ condition: () -> Bool) async -> Bool {
    let end = now() + timeout
    while !condition() {
        if now() > end { return false }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return true
}

/// Runs `argv` as the leader of a session on a fresh pty; once `hangUpWhen` holds, closes the pty's master (the
/// kernel sends SIGHUP, later writes see EIO). Returns the exit status (nil: killed at the deadline, or a signal).
private func runAndHangUp(_ argv: [String], timeout: Double, hangUpWhen: @escaping @Sendable () -> Bool)
    async -> (status: Int32?, signal: Int32?, hungUp: Bool)
{
    await withCheckedContinuation { c in
        Thread.detachNewThread {
            c.resume(returning: hangUpBlocking(argv, timeout: timeout, hangUpWhen: hangUpWhen))
        }
    }
}

private func hangUpBlocking(_ argv: [String], timeout: Double, hangUpWhen: () -> Bool)
    -> (status: Int32?, signal: Int32?, hungUp: Bool)
{
    guard let pty = try? PseudoTerminal(rows: 30, cols: 100) else { return (nil, nil, false) }
    let env = PPDash.baseEnvironment.merging(["TERM": "xterm"]) { $1 }
    guard let pid = try? spawnSession(argv, env: env, descriptors: pty.childDescriptors).pid else { return (nil, nil, false) }
    let start = now()
    var buffer = [UInt8](repeating: 0, count: 4096)
    // Read what it writes until the condition holds (a full pty would block it), then hang up.
    while !hangUpWhen() && now() - start < timeout {
        var p = pollfd(fd: pty.master.raw, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 20) > 0 { _ = read(pty.master.raw, &buffer, buffer.count) }
    }
    let hungUp = hangUpWhen()
    pty.close()
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) != pid {
        if now() - start > timeout {
            kill(-pid, SIGKILL)
            waitpid(pid, &status, 0)
            return (nil, SIGKILL, hungUp)
        }
        usleep(20_000)
    }
    let s = ExitStatus(waitStatus: status)
    return (s.exitCode, s.signal, hungUp)
}

@Suite("how a run ends", .endToEndSlot)
struct EndingsE2ETests {
    @Test("headless run on a terminal that hangs up: the batch runs to its end, journal ends saying why, no orphan")
    func hangupRunsOn() async {
        guard let bin = PPDash.path else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let dir = TempDir()
        defer { dir.remove() }
        let marker = "hup\(UInt32.random(in: 100_000...999_999))"
        let journal = dir.file("j.jsonl"), side = dir.file("side")
        let argv = [
            bin, "run", "--headless", "-j", "2", "--journal", journal, "--",
            "sleep 0.3; echo {} >> \(side); echo output {}; : \(marker)",
        ] + [":::"] + (1...8).map(String.init)
        let r = await runAndHangUp(argv, timeout: 30) { lines(of: journal).contains { $0.contains("\"event\":\"started\"") } }
        #expect(r.hungUp, "the first task started before the hangup")
        #expect(r.status == 0 && r.signal == nil, "exit status the batch's (0), not 129: \(r)")
        #expect(lines(of: side).sorted() == (1...8).map(String.init).sorted(), "every task ran once: \(lines(of: side))")
        let end = endLine(journal) ?? ""
        #expect(end.contains("terminal hung up at"), "the journal's end line says why: \(end)")
        #expect(end.contains("\"ok\":8"), "all 8 ok in the end line: \(end)")
        let left = await waitForNoProcesses(matching: marker, timeout: 3)
        #expect(left.isEmpty, "no task left running: \(left.map(\.cmdline))")
    }

    @Test("the same hangup with proc engines: the workers run on (their own sessions), every task once, no orphan")
    func hangupRunsOnWithProcEngines() async {
        guard let bin = PPDash.path else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let dir = TempDir()
        defer { dir.remove() }
        let marker = "hupproc\(UInt32.random(in: 100_000...999_999))"
        let journal = dir.file("j.jsonl"), side = dir.file("side")
        let argv = [
            bin, "run", "--headless", "-e", "proc:2", "--journal", journal, "--",
            "sleep 0.3; echo {} >> \(side); echo output {}; : \(marker)",
        ] + [":::"] + (1...8).map(String.init)
        let r = await runAndHangUp(argv, timeout: 60) { lines(of: journal).contains { $0.contains("\"event\":\"started\"") } }
        #expect(r.hungUp, "the first task started before the hangup")
        #expect(r.status == 0 && r.signal == nil, "exit status the batch's (0), not 129: \(r)")
        #expect(lines(of: side).sorted() == (1...8).map(String.init).sorted(), "every task ran once: \(lines(of: side))")
        let journalText = lines(of: journal)
        #expect(!journalText.contains { $0.contains("engine_died") }, "no engine died of the hangup")
        let end = endLine(journal) ?? ""
        #expect(end.contains("terminal hung up at"), "the journal's end line says why: \(end)")
        #expect(end.contains("\"ok\":8"), "all 8 ok in the end line: \(end)")
        let left = await waitForNoProcesses(matching: marker, timeout: 3)
        #expect(left.isEmpty, "no task left running: \(left.map(\.cmdline))")
    }

    @Test("SIGHUP to a headless run (kill -HUP): the batch runs on and exits with its own status")
    func sighupSent() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl"), side = dir.file("side")
        guard
            let child = PPDash.start(
                // Tasks wait for the test's go (at most 60 s): the hangup falls inside the batch however slowly this
                // test is scheduled on a loaded machine.
                ["run", "-j", "2", "--journal", journal, "--",
                 "i=0; while [ ! -e \(dir.file("go")) ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo {} >> \(side); exit {}",
                 ":::", "0", "0", "1", "0"])
        else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let started = await waitFor(15) { lines(of: journal).contains { $0.contains("\"event\":\"started\"") } }
        #expect(started)
        child.signal(SIGHUP)
        // Sent while every task waits for the go: the hangup is pending in ppdash before the batch can end.
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let r = await child.wait()
        #expect(r.exitCode == 1, "one task failed: status 1, not 129: \(r)")
        #expect(lines(of: side).count == 4, "every task ran: \(lines(of: side))")
        #expect(endLine(journal)?.contains("terminal hung up") == true, "end line: \(endLine(journal) ?? "none")")
    }

    @Test("SIGQUIT stops a headless run as SIGINT does: pending aborted, running signalled, journal says so, 131")
    func sigquit() async {
        let dir = TempDir()
        defer { dir.remove() }
        let marker = String(UInt32.random(in: 100_000...999_999))
        let journal = dir.file("j.jsonl")
        guard
            let child = PPDash.start(
                ["run", "-j", "2", "--journal", journal, "--", "sleep {}"] + [":::"] + (1...20).map { "\($0)\(marker)" })
        else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let running = await waitFor(15) { processes(matching: marker).count >= 2 }
        #expect(running, "two tasks running")
        child.signal(SIGQUIT)
        let r = await child.wait()
        #expect(r.exitCode == 131, "exit 131 after SIGQUIT: \(r)")
        let end = endLine(journal) ?? ""
        #expect(end.contains("stopped (SIGQUIT)"), "journal end: \(end)")
        #expect(end.contains("\"aborted\":20"), "all 20 aborted: \(end)")
        let errLines = r.err.split(separator: "\n")
        #expect(errLines.last?.hasPrefix("ppdash: stopped by SIGQUIT: 20 tasks") == true, "summary last: \(r.err)")
        let left = await waitForNoProcesses(matching: marker, timeout: 3)
        #expect(left.isEmpty, "no task left running: \(left.map(\.cmdline))")
    }

    @Test("SIGTERM on a batch with many pending tasks: one summary line, last; pending aborted tasks not listed")
    func sigtermOneSummary() async {
        let dir = TempDir()
        defer { dir.remove() }
        let marker = String(UInt32.random(in: 100_000...999_999))
        let journal = dir.file("j.jsonl")
        guard
            let child = PPDash.start(
                ["run", "-j", "2", "--journal", journal, "--", "sleep 3\(marker); : {}", ":::", "1..5000"])
        else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let running = await waitFor(15) { processes(matching: marker).count >= 2 }
        #expect(running, "two tasks running")
        child.signal(SIGTERM)
        let r = await child.wait()
        #expect(r.exitCode == 143, "exit 143: \(r.exitCode.map(String.init) ?? "signal")")
        let errLines = r.err.split(separator: "\n")
        // At most: the two running tasks' lines and the summary.
        #expect(errLines.count <= 3, "\(errLines.count) stderr lines: \(clip(r.err))")
        #expect(errLines.last?.hasPrefix("ppdash: stopped by SIGTERM: 5000 tasks: 0 ok, 5000 failed") == true, "summary last: \(clip(r.err))")
        #expect(endLine(journal)?.contains("terminated (SIGTERM)") == true)
    }
}

/// The pane's script: run ppdash, then print `EXIT=<status>` and wait for a line.
private func paneScript(_ bin: String, _ args: [String]) -> String {
    let cmd = ([bin] + args).map(shellQuote).joined(separator: " ")
    return "set -m; \(cmd); s=$?; echo \"EXIT=$s\"; read x; exit $s"
}

@Suite("leaving the dashboard of a run", .endToEndSlot, .enabled(if: Tmux.available, "tmux is not installed: end-to-end dashboard tests skipped"))
struct DashboardExitE2ETests {
    @Test("run's dashboard, q: exit status as headless (1: a task failed), the outputs and the summary printed")
    func quitGivesStatusAndOutputs() async {
        guard let bin = PPDash.path else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let dir = TempDir()
        defer { dir.remove() }
        let script = paneScript(bin, ["run", "--journal", dir.file("j.jsonl"), "--", "echo out-{}; exit {}", ":::", "0", "1"])
        let (t, r) = await Tmux.start(script, width: 100, height: 30)
        defer { t.kill() }
        #expect(r.exitCode == 0, "tmux started: \(r)")
        var w = await t.waitUntil(timeout: 15) { s in s.contains { $0.contains("q quit") } }
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        // Both tasks done (the journal has two completed lines) before quitting.
        let done = await waitFor(15) { lines(of: dir.file("j.jsonl")).filter { $0.contains("\"event\":\"completed\"") }.count == 2 }
        #expect(done)
        await t.sendKeys("q")
        w = await t.waitUntil(timeout: 5) { s in s.joined().contains("y/n") || s.joined().contains("EXIT=") }
        if w.screen.joined().contains("y/n") { await t.sendKeys("y") }
        w = await t.waitFor("EXIT=", timeout: 10)
        let text = w.screen.joined(separator: "\n")
        #expect(text.contains("EXIT=1"), "exit status 1 (a task failed)\(show(w.screen))")
        #expect(w.screen.contains { $0 == "out-0" } && w.screen.contains { $0 == "out-1" }, "both outputs printed\(show(w.screen))")
        #expect(text.contains("2 tasks: 1 ok, 1 failed"), "the summary printed\(show(w.screen))")
    }

    @Test("run's dashboard and the headless run agree on GNU parallel's exit status: 2 tasks failed, exit 2")
    func dashboardExitStatusIsGNUs() async {
        guard let bin = PPDash.path else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let dir = TempDir()
        defer { dir.remove() }
        let sweep = ["--", "echo out-{}; exit {}", ":::", "0", "3", "5"]
        let headless = await PPDash.run(["run", "--headless", "--no-journal"] + sweep, stdin: [], timeout: 30)
        #expect(headless.exitCode == 2, "\(headless)")
        let script = paneScript(bin, ["run", "--journal", dir.file("j.jsonl")] + sweep)
        let (t, _) = await Tmux.start(script, width: 100, height: 30)
        defer { t.kill() }
        var w = await t.waitUntil(timeout: 15) { s in s.contains { $0.contains("q quit") } }
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        let done = await waitFor(15) { lines(of: dir.file("j.jsonl")).filter { $0.contains("\"event\":\"completed\"") }.count == 3 }
        #expect(done)
        await t.sendKeys("q")
        w = await t.waitUntil(timeout: 5) { s in s.joined().contains("y/n") || s.joined().contains("EXIT=") }
        if w.screen.joined().contains("y/n") { await t.sendKeys("y") }
        w = await t.waitFor("EXIT=", timeout: 10)
        #expect(w.screen.joined().contains("EXIT=2"), "exit 2, as headless\(show(w.screen))")
    }

    @Test("run's dashboard, q with every task ok: exit 0")
    func quitAllOk() async {
        guard let bin = PPDash.path else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        let dir = TempDir()
        defer { dir.remove() }
        let script = paneScript(bin, ["run", "--journal", dir.file("j.jsonl"), "--", "echo ok-{}", ":::", "a", "b"])
        let (t, _) = await Tmux.start(script, width: 100, height: 30)
        defer { t.kill() }
        var w = await t.waitUntil(timeout: 15) { s in s.contains { $0.contains("q quit") } }
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        let done = await waitFor(15) { lines(of: dir.file("j.jsonl")).filter { $0.contains("\"event\":\"completed\"") }.count == 2 }
        #expect(done)
        await t.sendKeys("q")
        w = await t.waitUntil(timeout: 5) { s in s.joined().contains("y/n") || s.joined().contains("EXIT=") }
        if w.screen.joined().contains("y/n") { await t.sendKeys("y") }
        w = await t.waitFor("EXIT=", timeout: 10)
        #expect(w.screen.joined().contains("EXIT=0"), "exit 0\(show(w.screen))")
        #expect(w.screen.contains { $0 == "ok-a" } && w.screen.contains { $0 == "ok-b" }, "outputs printed\(show(w.screen))")
    }
}

@Suite("error messages", .endToEndSlot)
struct ErrorMessageE2ETests {
    @Test("a task whose command is too long for the system: one short line, the command cut, plain words")
    func argumentListTooLong() async {
        // One 200 KB stdin line makes a command over the kernel's per-argument limit (128 KiB): exec fails (E2BIG).
        let line = String(repeating: "y", count: 200_000)
        let r = await PPDash.run(["run", "--no-journal", "--", "echo {}"], stdin: Array((line + "\n").utf8), timeout: 30)
        #expect(r.exitCode == 1, "the task failed: \(r.exitCode.map(String.init) ?? "signal")")
        let errLines = r.err.split(separator: "\n")
        let task = errLines.first { $0.contains("task 1") } ?? ""
        #expect(task.utf8.count < 600, "the error line is short: \(task.utf8.count) bytes")
        #expect(task.contains("more bytes)"), "says how much was left out: \(clip(String(task)))")
        #expect(task.contains("too long"), "plain words: \(clip(String(task)))")
        #expect(!r.err.contains("Argument list too long") && !r.err.contains("Domain"), "\(clip(r.err))")
    }
}

/// A raw connection to a Unix socket that says nothing (an idle viewer); -1 when it cannot connect.
private func idleConnection(_ path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let bytes = Array(path.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
    }
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if ok != 0 {
        close(fd)
        return -1
    }
    return fd
}

@Suite("attach under load", .endToEndSlot)
struct AttachE2ETests {
    @Test("17 idle viewers on the socket: a real attach still shows the live batch, not an ended one")
    func idleViewersDoNotStarveAttach() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let marker = String(UInt32.random(in: 100_000...999_999))
        guard let child = PPDash.start(["run", "-j", "2", "--journal", journal, "--", "sleep 2\(marker); : {}", ":::", "1", "2", "3", "4"], timeout: 30)
        else { return #expect(Bool(false), Comment(rawValue: PPDash.notFound)) }
        defer {
            child.signal(SIGTERM)
            _ = child.waitBlocking()
        }
        let started = await waitFor(15) { lines(of: journal).contains { $0.contains("\"event\":\"started\"") } }
        #expect(started)
        let header = lines(of: journal).first ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(header.utf8))) as? [String: Any]
        let socketPath = try #require(object?["socket"] as? String, "the header names the socket: \(header)")
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<17 {
            let fd = idleConnection(socketPath)
            #expect(fd >= 0, "connected an idle viewer")
            held.append(fd)
        }
        try? await Task.sleep(for: .milliseconds(1500))  // idle longer than the server's 1 s eviction threshold
        let r = await PPDash.run(["attach", journal], timeout: 15)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.out.contains("running, pid \(child.pid)"), "attach sees the live batch: \(r.out)")
        #expect(!r.err.contains("read-only") && !r.err.contains("ended") && !r.err.contains("cannot connect"), "\(r.err)")
    }
}

@Suite("the state socket's directory", .endToEndSlot)
struct SocketDirectoryE2ETests {
    @Test("a journal path too long for a socket: the socket goes in TMPDIR/ppdash-UID, made 0700; one open to others is refused with why")
    func fallbackDirectoryChecked() async {
        let dir = TempDir()
        defer { dir.remove() }
        let deep = dir.file(String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60))
        try? FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        let tmp = dir.file("tmp")
        try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        chmod(tmp, 0o1777)
        let priv = tmp + "/ppdash-\(geteuid())"

        // Fresh: made 0700, no warning.
        let ok = await PPDash.run(["run", "--journal", deep + "/a.jsonl", "--", "true {}", ":::", "1"], env: ["TMPDIR": tmp])
        #expect(ok.exitCode == 0, "\(ok)")
        #expect(!ok.err.contains("no attach socket"), "\(ok.err)")
        var st = stat()
        #expect(lstat(priv, &st) == 0 && st.st_mode & 0o777 == 0o700 && st.st_uid == geteuid(), "made 0700")

        // Opened to others: refused, said, and the batch runs all the same.
        chmod(priv, 0o755)
        let bad = await PPDash.run(["run", "--journal", deep + "/b.jsonl", "--", "true {}", ":::", "1"], env: ["TMPDIR": tmp])
        #expect(bad.exitCode == 0, "\(bad)")
        #expect(bad.err.contains("no attach socket") && bad.err.contains("must be 0700"), "\(bad.err)")
        let sockets = ((try? FileManager.default.contentsOfDirectory(atPath: priv)) ?? []).filter { $0.hasPrefix("b.") }
        #expect(sockets.isEmpty, "no socket made there: \(sockets)")
    }
}
