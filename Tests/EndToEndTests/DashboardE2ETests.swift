// The dashboard on a real terminal: ppdash inside a private tmux server, driven with send-keys
// and read back with capture-pane.
import Foundation
import Testing

import Glibc

/// The pane's script: remember the terminal modes, run ppdash, then print `EXIT=<status> TTY=same|changed`
/// (changed: ppdash left the modes altered), wait for a line so the pane can be inspected, and exit with ppdash's status.
/// `set -m` gives job control as in an interactive shell: ppdash runs as the terminal's foreground process group
/// on its own, so a Ctrl-C's SIGINT reaches ppdash and not this script (without it dash dies of the SIGINT too).
private func paneScript(_ bin: String, _ args: [String]) -> String {
    let cmd = ([bin] + args).map(shellQuote).joined(separator: " ")
    return """
        set -m; a=$(stty -g); \(cmd); s=$?; b=$(stty -g); stty "$a"; \
        if [ "$a" = "$b" ]; then t=same; else t=changed; fi; \
        echo "EXIT=$s TTY=$t"; read x; exit $s
        """
}

private let tableHeaders = ["Submitted", "Started", "Completed", "Status"]

private func hasTableHeader(_ screen: [String]) -> Bool {
    screen.contains { line in tableHeaders.allSatisfy { line.contains($0) } }
}

private func text(_ screen: [String]) -> String { screen.joined(separator: "\n") }

/// Starts ppdash in a fresh tmux server; nil (with an issue recorded) when that fails.
func startDashboard(_ args: [String], width: Int, height: Int) async -> Tmux? {
    guard let bin = PPDash.path else {
        Issue.record(Comment(rawValue: PPDash.notFound))
        return nil
    }
    let (t, r) = await Tmux.start(paneScript(bin, args), width: width, height: height)
    if r.exitCode != 0 {
        Issue.record("tmux new-session failed: \(r)")
        t.kill()
        return nil
    }
    return t
}

/// Waits for the dashboard's header; gives up at once if ppdash ended instead.
func waitForDashboard(_ t: Tmux) async -> (ok: Bool, screen: [String]) {
    let w = await t.waitUntil(timeout: 15) { s in
        s.contains { $0.contains("q quit") } || s.contains { $0.hasPrefix("EXIT=") }
    }
    return (w.screen.contains { $0.contains("q quit") }, w.screen)
}

/// After ppdash has ended: the shell reports its status, the terminal modes are as before,
/// the alternate screen is left, the cursor shows, no dashboard remains; then the pane exits with that status.
func expectRestored(_ t: Tmux, exit expected: Int?, sourceLocation: SourceLocation = #_sourceLocation) async {
    let w = await t.waitFor("EXIT=", timeout: 10)
    #expect(w.ok, "ppdash ended and the shell ran again\(show(w.screen))", sourceLocation: sourceLocation)
    guard w.ok else { return }
    let line = w.screen.first { $0.contains("EXIT=") } ?? ""
    #expect(line.contains("TTY=same"), "terminal modes restored: \(line)", sourceLocation: sourceLocation)
    if let expected {
        #expect(line.contains("EXIT=\(expected) "), "exit status \(expected): \(line)", sourceLocation: sourceLocation)
    }
    let flags = await t.display("#{alternate_on} #{cursor_flag}")
    #expect(flags == "0 1", "alternate screen left and cursor visible (alternate_on cursor_flag = \(flags))",
            sourceLocation: sourceLocation)
    #expect(!hasTableHeader(w.screen) && !text(w.screen).contains("q quit"),
            "no dashboard left on the screen\(show(w.screen))", sourceLocation: sourceLocation)
    await t.sendKeys("Enter")
    // The EXIT= line above is ppdash's status as its shell saw it. tmux 3.3a now and then never reaps the
    // pane's shell (dead pane, zombie, no status), so its own figure is checked only when it has one.
    let status = await t.waitForExit(timeout: 3)
    if let expected, let status {
        #expect(status == expected, "the pane's process exited \(expected), got \(status)", sourceLocation: sourceLocation)
    }
}

@Suite("dashboard in tmux", .endToEndSlot, .enabled(if: Tmux.available, "tmux is not installed: end-to-end dashboard tests skipped"))
struct DashboardE2ETests {
    @Test("submit a batch, watch it finish, detail, filter, resize, quit")
    func fullSession() async {
        guard let t = await startDashboard(["-n", "4"], width: 120, height: 40) else { return }
        defer { t.kill() }

        var w = await waitForDashboard(t)
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        guard w.ok else { return }
        #expect(w.screen.contains { $0.contains("? help") && $0.contains("q quit") }, "header line\(show(w.screen))")
        // The capture may catch the first frame half drawn: wait for the rest.
        w = await t.waitUntil(timeout: 5, hasTableHeader)
        #expect(w.ok, "task table headers at 120 columns\(show(w.screen))")
        #expect(text(w.screen).lowercased().contains("engine"), "an engines pane\(show(w.screen))")

        // Submit 100 tasks through the prompt.
        let before = w.screen
        await t.sendKeys("s")
        w = await t.waitUntil(timeout: 5) { $0 != before }
        #expect(w.ok, "s opened a prompt\(show(w.screen))")
        await t.type("sleep 0.1; echo $(({}*{})) ::: 0..99")
        w = await t.waitFor("::: 0..99", timeout: 5)
        #expect(w.ok, "the prompt shows what was typed\(show(w.screen))")
        guard w.ok else { return }
        await t.sendKeys("Enter")
        w = await t.waitFor("100/100", timeout: 30)
        #expect(w.ok, "the progress widget reached 100/100\(show(w.screen))")
        guard w.ok else { return }

        // Help, then back.
        let table = await t.capture()
        await t.sendKeys("?")
        w = await t.waitUntil(timeout: 5) { $0 != table }
        #expect(w.ok, "? opened the help\(show(w.screen))")
        await t.sendKeys("Escape")
        w = await t.waitUntil(timeout: 5, hasTableHeader)
        #expect(w.ok, "Esc closed the help\(show(w.screen))")

        // Detail view of the selected task.
        await t.sendKeys("Enter")
        w = await t.waitUntil(timeout: 5) { text($0).lowercased().contains("stdout") }
        #expect(w.ok, "Enter opened a detail view with the task's stdout\(show(w.screen))")
        #expect(text(w.screen).lowercased().contains("submitted"), "the detail shows metadata\(show(w.screen))")
        await t.sendKeys("Escape")
        w = await t.waitUntil(timeout: 5, hasTableHeader)
        #expect(w.ok, "Esc went back to the table\(show(w.screen))")

        // Filter on "ok": every task is ok, so rows stay.
        await t.sendKeys("/")
        try? await Task.sleep(for: .milliseconds(200))
        await t.type("ok")
        await t.sendKeys("Enter")
        w = await t.waitUntil(timeout: 5) { s in hasTableHeader(s) && s.contains { $0.contains(" ok") } }
        #expect(w.ok, "the filtered table shows ok rows\(show(w.screen))")

        // Resize: smaller, too small, back.
        await t.resize(80, 24)
        w = await t.waitUntil(timeout: 5) { s in
            s.count <= 24 && s.allSatisfy { $0.count <= 80 } && s.contains { $0.contains(" ok") }
                && !text(s).contains("needs at least")
        }
        #expect(w.ok, "at 80x24 the table is still there\(show(w.screen))")
        await t.resize(40, 10)
        w = await t.waitUntil(timeout: 5) { s in
            let lines = s.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            return lines.count == 1 && lines[0].contains(/\d+\s*x\s*\d+/)
        }
        #expect(w.ok, "at 40x10 one line says the size needed\(show(w.screen))")
        await t.resize(120, 40)
        w = await t.waitUntil(timeout: 5) { s in hasTableHeader(s) && text(s).contains("q quit") }
        #expect(w.ok, "back at 120x40 the dashboard is whole again\(show(w.screen))")

        // Quit (everything has finished, but answer y if asked).
        await t.sendKeys("q")
        w = await t.waitUntil(timeout: 3) { s in text(s).contains("y/n") || text(s).contains("EXIT=") }
        if text(w.screen).contains("y/n") { await t.sendKeys("y") }
        await expectRestored(t, exit: 0)
    }

    @Test("Ctrl-C quits and restores the terminal")
    func controlC() async {
        guard let t = await startDashboard(["-n", "2"], width: 100, height: 30) else { return }
        defer { t.kill() }
        let w = await waitForDashboard(t)
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        guard w.ok else { return }
        await t.sendKeys("C-c")
        await expectRestored(t, exit: 0)
    }

    @Test("SIGTERM ends ppdash, restores the terminal and leaves no task behind")
    func sigterm() async {
        guard let t = await startDashboard(["-n", "2"], width: 100, height: 30) else { return }
        defer { t.kill() }
        let w = await waitForDashboard(t)
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        guard w.ok else { return }

        // Two long tasks with sleep lengths no other process uses.
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: m) { kill(p.pid, SIGKILL) } }
        await t.sendKeys("s")
        try? await Task.sleep(for: .milliseconds(200))
        await t.type("sleep {} ::: 1\(m) 2\(m)")
        await t.sendKeys("Enter")
        let start = now()
        while processes(matching: m).count < 2, now() - start < 10 {
            try? await Task.sleep(for: .milliseconds(100))
        }
        let screen = await t.capture()
        #expect(processes(matching: m).count >= 2, "both tasks are running\(show(screen))")

        // ppdash is the pane shell's child.
        let shell = pid_t(await t.display("#{pane_pid}")) ?? -1
        let bin = PPDash.path ?? "ppdash"
        let ppdash = processTable().first { $0.ppid == shell && $0.cmdline.contains(bin) }
        #expect(ppdash != nil, "found ppdash under the pane's shell \(shell)")
        guard let ppdash else { return }
        kill(ppdash.pid, SIGTERM)
        await expectRestored(t, exit: nil)
        let left = await waitForNoProcesses(matching: m, timeout: 3)
        #expect(left.isEmpty, "task processes left running: \(left.map { "\($0.pid) \($0.cmdline)" })")
    }
}
