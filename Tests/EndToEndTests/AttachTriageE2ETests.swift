// Failure triage and engine exclusion from an attached view: the keys travel over the state socket to the ppdash
// that runs the batch, and its answer comes back.
import Foundation
import Testing

import PPSystem

@Suite("triage and exclusion in an attached view", .endToEndSlot, .serialized)
struct AttachTriageE2ETests {
    @Test("! lists the serving ppdash's failures, R retries a group, x excludes an engine there", .enabled(if: Tmux.available, "tmux is not installed"))
    func triageAndExcludeOverTheSocket() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("triage.jsonl")
        guard let d = await startDashboard(["--journal", journal, "-n", "2"], width: 120, height: 32) else { return }
        defer { d.kill() }
        let up = await waitForDashboard(d)
        #expect(up.ok, "the dashboard opened\(show(up.screen))")
        guard up.ok else { return }

        guard let a = await startDashboard(["attach", journal], width: 120, height: 32) else { return }
        defer { a.kill() }
        var w = await a.waitFor("q detach", timeout: 15)
        #expect(w.ok, "attached\(show(w.screen))")
        guard w.ok else { return }
        // A batch that fails three ways, submitted from the attached view.
        await a.sendKeys("s")
        try? await Task.sleep(for: .milliseconds(200))
        await a.type("echo oops-{} >&2; exit {} ::: 3 3 4 0")
        await a.sendKeys("Enter")
        w = await a.waitFor("4/4", timeout: 15)
        #expect(w.ok, "the batch ran\(show(w.screen))")

        await a.sendKeys("!")
        w = await a.waitUntil(timeout: 10) { s in
            s.contains { $0.contains("exit 3") } && s.contains { $0.contains("exit 4") }
        }
        #expect(w.ok, "the triage lists the serving ppdash's failures by exit status\(show(w.screen))")
        #expect(!w.screen.joined(separator: "\n").contains("cannot list failed tasks"), "\(show(w.screen))")
        // The first group is the largest: exit 3, two tasks. R retries it there.
        await a.sendKeys("R")
        w = await a.waitFor("queued again", timeout: 10)
        #expect(w.ok, "R retried the group through the socket\(show(w.screen))")
        #expect(w.screen.joined(separator: "\n").contains("2 tasks queued again"), "\(show(w.screen))")
        await a.sendKeys("Escape")

        // x on the engines pane excludes engine 0 in the serving ppdash: both views show it.
        await a.sendKeys("Tab")
        try? await Task.sleep(for: .milliseconds(200))
        await a.sendKeys("x")
        w = await a.waitFor("engine 0 excluded", timeout: 10)
        #expect(w.ok, "x excluded the engine through the socket\(show(w.screen))")
        let home = await d.waitFor("excluded", timeout: 10)
        #expect(home.ok, "the serving dashboard shows engine 0 excluded\(show(home.screen))")
        await a.sendKeys("x")
        w = await a.waitFor("engine 0 takes work again", timeout: 10)
        #expect(w.ok, "x again included it\(show(w.screen))")

        await a.sendKeys("q")
        await d.sendKeys("q")
        _ = await d.waitFor("EXIT=", timeout: 10)
    }
}
