// A dashboard run lets finished output leave memory: each task's output goes to its spool file as it ends (even
// under the 8 KiB the spool starts at while a task runs), and after quit every byte is printed from there.
import Foundation
import Testing

import Glibc

@Suite(
    "dashboard run: finished output on disk, printed after quit", .endToEndSlot,
    .enabled(if: Tmux.available, "tmux is not installed: end-to-end dashboard tests skipped"))
struct DashboardSpillE2ETests {
    @Test("3 tasks of 600 bytes: their spool files appear while the dashboard is up; after q, 1800 x's on the terminal")
    func spilledThenPrinted() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        guard let t = await startDashboard(
            ["run", "--journal", journal, "-j", "2", "--", "head -c 600 /dev/zero | tr '\\0' x; echo; echo {}", ":::", "1", "2", "3"],
            width: 100, height: 40)
        else { return }
        defer { t.kill() }
        // Each task's stdout (602 bytes: never spooled while it ran) is written to the spool when it ends.
        let spool = dir.file("j.spool")
        let expected = (1...3).map { String(repeating: "x", count: 600) + "\n\($0)\n" }
        let deadline = now() + 30
        var found = [String]()
        while now() < deadline {
            found = (1...3).map { (try? String(contentsOfFile: spool + "/\($0).out", encoding: .utf8)) ?? "" }
            if found == expected { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let shown = await t.capture()
        #expect(found == expected, "spool files while the dashboard is up: \(found.map(\.count))\(show(shown))")
        await t.sendKeys("q")
        var w = await t.waitUntil(timeout: 5) { s in s.joined().contains("y/n") || s.joined().contains("EXIT=") }
        if w.screen.joined().contains("y/n") { await t.sendKeys("y") }
        w = await t.waitFor("EXIT=", timeout: 15)
        let screen = w.screen.joined(separator: "\n")
        #expect(screen.contains("EXIT=0"), "\(show(w.screen))")
        // Printed after quit, from the spool: every x (the pane wraps them), each task's number on its line.
        let xs = w.screen.filter { !$0.isEmpty && $0.allSatisfy { $0 == "x" } }.joined().count
        #expect(xs == 1800, "\(show(w.screen))")
        for i in 1...3 { #expect(w.screen.contains("\(i)"), "task \(i)'s last line\(show(w.screen))") }
        await t.sendKeys("Enter")
    }
}
