// The task stream, the mouse and OSC 52 copy on a real terminal: ppdash in a private tmux server.
import Foundation
import Testing

private func text(_ screen: [String]) -> String { screen.joined(separator: "\n") }

/// Submits `line` at the dashboard's prompt and waits until `done` shows.
private func submit(_ t: Tmux, _ line: String, until done: String) async -> (ok: Bool, screen: [String]) {
    let before = await t.capture()
    await t.sendKeys("s")
    _ = await t.waitUntil(timeout: 5) { $0 != before }
    await t.type(line)
    _ = await t.waitFor(String(line.suffix(8)), timeout: 5)
    await t.sendKeys("Enter")
    return await t.waitFor(done, timeout: 30)
}

/// Quits (answering y if asked) and checks the terminal came back as it was.
private func quit(_ t: Tmux) async {
    await t.sendKeys("q")
    let w = await t.waitUntil(timeout: 3) { s in text(s).contains("y/n") || text(s).contains("EXIT=") }
    if text(w.screen).contains("y/n") { await t.sendKeys("y") }
    await expectRestored(t, exit: 0)
}

@Suite("task stream, mouse and copy in tmux", .endToEndSlot, .enabled(if: Tmux.available, "tmux is not installed: skipped"))
struct StreamMouseCopyE2ETests {
    @Test("the task stream shows by default at 120x45 with a lane per engine, and t hides it")
    func streamAppears() async {
        guard let t = await startDashboard(["-n", "2"], width: 120, height: 45) else { return }
        defer { t.kill() }
        var w = await waitForDashboard(t)
        #expect(w.ok, "the dashboard opened\(show(w.screen))")
        guard w.ok else { return }
        w = await t.waitFor("Task stream", timeout: 5)
        #expect(w.ok, "the stream's pane is there\(show(w.screen))")
        w = await submit(t, "sleep 0.3; echo {} ::: 1..12", until: "12/12")
        #expect(w.ok, "the batch finished\(show(w.screen))")
        // Both lanes show busy cells once the stream's second has been drawn.
        w = await t.waitUntil(timeout: 5) { s in
            guard let top = s.firstIndex(where: { $0.contains("Task stream") }), top + 2 < s.count else { return false }
            return (1...2).allSatisfy { n in
                let lane = s[top + n]
                return lane.contains(where: { "▁▂▃▄▅▆▇█".contains($0) }) && lane.contains(" \(n - 1) ")
            }
        }
        #expect(w.ok, "a lane per engine with busy cells\(show(w.screen))")
        await t.sendKeys("t")
        w = await t.waitUntil(timeout: 5) { s in !text(s).contains("Task stream") && text(s).contains("Tasks") }
        #expect(w.ok, "t hid the stream\(show(w.screen))")
        await quit(t)
    }

    @Test("a mouse click (SGR, as tmux types it) selects the task row under it; Enter opens that task")
    func clickSelectsRow() async {
        guard let t = await startDashboard(["-n", "2"], width: 100, height: 30) else { return }
        defer { t.kill() }
        var w = await waitForDashboard(t)
        guard w.ok else {
            Issue.record("the dashboard did not open\(show(w.screen))")
            return
        }
        w = await submit(t, "echo row{} ::: 1..20", until: "20/20")
        #expect(w.ok, "the batch finished\(show(w.screen))")
        // Find task 5's row on screen and click it (SGR coordinates are 1-based).
        w = await t.waitUntil(timeout: 5) { s in s.contains { $0.contains("echo row5") } }
        guard let row = w.screen.firstIndex(where: { $0.contains("echo row5") }) else {
            Issue.record("task 5 is not on screen\(show(w.screen))")
            return
        }
        await t.type("\u{1B}[<0;10;\(row + 1)M")
        await t.type("\u{1B}[<0;10;\(row + 1)m")
        try? await Task.sleep(for: .milliseconds(300))
        await t.sendKeys("Enter")
        w = await t.waitUntil(timeout: 5) { s in text(s).contains("stdout") }
        #expect(w.ok, "Enter opened a detail view\(show(w.screen))")
        #expect(text(w.screen).contains("echo row5"), "the clicked task (5) is the one shown\(show(w.screen))")
        await t.sendKeys("Escape")
        await quit(t)
    }

    @Test("y copies the selected task's command through OSC 52 into tmux's buffer (set-clipboard on)")
    func copyLandsInTmuxBuffer() async {
        guard let t = await startDashboard(["-n", "2"], width: 100, height: 30) else { return }
        defer { t.kill() }
        await t.tmux(["set-option", "-s", "set-clipboard", "on"])
        var w = await waitForDashboard(t)
        guard w.ok else {
            Issue.record("the dashboard did not open\(show(w.screen))")
            return
        }
        w = await submit(t, "echo copy-me-{} ::: 1..3", until: "3/3")
        #expect(w.ok, "the batch finished\(show(w.screen))")
        await t.sendKeys("g")
        await t.sendKeys("y")
        // The whole message (a capture can fall between two writes of one line).
        w = await t.waitUntil(timeout: 5) { s in text(s).contains("to the clipboard") && text(s).contains("bytes") }
        #expect(w.ok, "a message says what was copied\(show(w.screen))")
        #expect(text(w.screen).contains("task 1's command"), "\(show(w.screen))")
        #expect(text(w.screen).contains("14 bytes"), "\(show(w.screen))")
        var buffer = ""
        for _ in 0..<30 {
            buffer = await t.tmux(["show-buffer"]).out
            if buffer.contains("copy-me") { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        #expect(buffer == "echo copy-me-1", "tmux's buffer holds the command: \(buffer.debugDescription)")
        await quit(t)
    }
}
