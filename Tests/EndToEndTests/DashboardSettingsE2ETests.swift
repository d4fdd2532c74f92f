// The dashboard's saved settings and live output on a real terminal: ppdash in a private tmux server.
import Foundation
import Glibc
import Testing

/// Runs ppdash with `args` in a fresh tmux pane (the pane's shell waits for a line after ppdash ends); nil (with an
/// issue recorded) when that fails.
private func startPPDash(_ args: [String], width: Int, height: Int) async -> Tmux? {
    guard let bin = PPDash.path else {
        Issue.record(Comment(rawValue: PPDash.notFound))
        return nil
    }
    let cmd = ([bin] + args).map(shellQuote).joined(separator: " ")
    let (t, r) = await Tmux.start("set -m; \(cmd); echo \"EXIT=$?\"; read x", width: width, height: height)
    if r.exitCode != 0 {
        Issue.record("tmux new-session failed: \(r)")
        t.kill()
        return nil
    }
    let w = await t.waitUntil(timeout: 15) { s in s.contains { $0.contains("q quit") } || s.contains { $0.hasPrefix("EXIT=") } }
    guard w.screen.contains(where: { $0.contains("q quit") }) else {
        Issue.record("the dashboard did not open\(show(w.screen))")
        t.kill()
        return nil
    }
    return t
}

/// The task table's heading line on `screen`, if shown.
private func tableHeading(_ screen: [String]) -> String? {
    screen.first { $0.contains("ID") && $0.contains("Status") && $0.contains("Command") }
}

@Suite("dashboard settings and live output in tmux", .endToEndSlot, .enabled(if: Tmux.available, "tmux is not installed: skipped"))
struct DashboardSettingsE2ETests {
    @Test("--config FILE sets the table's columns and their order; the column chooser saves a change to the file")
    func configColumns() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let config = dir.file("config.toml")
        try "# mine\nrefresh = 0.2\n[table]\ncolumns = [\"status\", \"command\", \"id\"]\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        guard let t = await startPPDash(["--config", config, "-n", "1"], width: 120, height: 30) else { return }
        defer { t.kill() }
        var w = await t.waitUntil(timeout: 10) { tableHeading($0) != nil }
        #expect(w.ok, "the table heading\(show(w.screen))")
        let heading = tableHeading(w.screen) ?? ""
        let status = heading.range(of: "Status")?.lowerBound
        let command = heading.range(of: "Command")?.lowerBound
        let id = heading.range(of: "ID")?.lowerBound
        #expect(status != nil && command != nil && id != nil && status! < command! && command! < id!, "\(heading)")
        #expect(!heading.contains("Submitted") && !heading.contains("Engine") && !heading.contains("Retries"), "\(heading)")

        // The chooser: the cursor starts on Status; Space hides it; w saves.
        await t.sendKeys("C")
        w = await t.waitFor("Task table columns", timeout: 5)
        #expect(w.ok, "C opened the chooser\(show(w.screen))")
        await t.sendKeys("Space")
        await t.sendKeys("w")
        w = await t.waitFor("columns saved to", timeout: 5)
        #expect(w.ok, "w saved\(show(w.screen))")
        let saved = (try? String(contentsOfFile: config, encoding: .utf8)) ?? ""
        #expect(saved.contains("columns = [ 'command', 'id' ]") || saved.contains("columns = [ \"command\", \"id\" ]")
            || saved.contains("'command', 'id'") || saved.contains("\"command\", \"id\""), "\(saved)")
        #expect(saved.contains("refresh = 0.2"), "other settings kept: \(saved)")
        await t.sendKeys("Escape")
        w = await t.waitUntil(timeout: 5) { s in
            let h = s.first { $0.contains("ID") && $0.contains("Command") } ?? ""
            return !h.isEmpty && !h.contains("Status") && !s.contains { $0.contains("Task table columns") }
        }
        #expect(w.ok, "the table without Status\(show(w.screen))")
        await t.sendKeys("q")
        w = await t.waitFor("EXIT=0", timeout: 10)
        #expect(w.ok, "quit\(show(w.screen))")
    }

    @Test("a bad value in the config file: one line naming the key, the default kept; a missing --config is exit 2")
    func badConfig() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let config = dir.file("config.toml")
        try "theme = \"neon\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let missing = await PPDash.run(["--config", dir.file("nope.toml"), "-n", "1"])
        #expect(missing.exitCode == 2, "\(missing)")
        #expect(missing.err.contains("nope.toml") && splitLines(missing.err).count == 1, "\(missing)")
        guard let t = await startPPDash(["--config", config, "-n", "1"], width: 120, height: 30) else { return }
        defer { t.kill() }
        let w = await t.waitFor("theme", timeout: 5)
        #expect(w.ok, "the status line names the bad key\(show(w.screen))")
        await t.sendKeys("q")
        let end = await t.waitFor("EXIT=0", timeout: 10)
        #expect(end.ok && end.screen.contains { $0.contains("theme = \"neon\"") }, "the warning on stderr after the dashboard\(show(end.screen))")
    }

    @Test("the detail view follows a running task's output with G, and scrolling up stops following")
    func followOutput() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let go = dir.file("go")
        guard let t = await startPPDash(["-n", "1"], width: 100, height: 24) else { return }
        defer { t.kill() }
        await t.sendKeys("s")
        // 60 lines at once, then (bounded) wait for the go file, then the end marker: all while the task runs.
        await t.type(
            "i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo line$i; done; n=0; while [ ! -e \(go) ] && [ $n -lt 600 ]; do n=$((n+1)); sleep 0.05; done; echo END-MARKER-{} ::: 7"
        )
        await t.sendKeys("Enter")
        var w = await t.waitFor("running", timeout: 10)
        #expect(w.ok, "the task runs\(show(w.screen))")
        await t.sendKeys("Enter")
        w = await t.waitFor("output so far", timeout: 10)
        #expect(w.ok, "the detail view of the running task\(show(w.screen))")
        await t.sendKeys("G")
        w = await t.waitUntil(timeout: 10) { s in s.contains { $0.contains("line60") } && s.contains { $0.contains("following") } }
        #expect(w.ok, "G shows the newest output and says it follows\(show(w.screen))")
        // The output grows with no key pressed: the view follows it.
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        w = await t.waitFor("END-MARKER-7", timeout: 15)
        #expect(w.ok, "the new line appeared at the bottom\(show(w.screen))")
        await t.sendKeys("Up")
        w = await t.waitUntil(timeout: 5) { s in !s.contains { $0.contains("following") } }
        #expect(w.ok, "scrolling up stops following\(show(w.screen))")
        await t.sendKeys("Escape")
        await t.sendKeys("q")
        w = await t.waitFor("EXIT=", timeout: 10)
        #expect(w.ok, "quit\(show(w.screen))")
    }
}
