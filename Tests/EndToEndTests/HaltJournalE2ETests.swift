// `--halt now` is exact with the journal on (issue 13's row, at a test's size): after the first failure is seen no
// new task starts, so at most the engines' count of tasks fail, however far the journal lags behind.
import Foundation
import Testing

@Suite("--halt now with the journal on", .endToEndSlot)
struct HaltJournalE2ETests {
    @Test("--halt now over 3,000 failing tasks, journal on: at most 2 (the engines) fail, the rest are aborted unstarted")
    func haltNowIsExactWithAJournal() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let r = await PPDash.run(
            ["run", "-j", "2", "--halt", "now", "--journal", journal, "--", "false {}", ":::", "1..3000"], timeout: 120)
        #expect(r.exitCode == 1, "the failing task's own status\(r)")
        let text = (try? String(contentsOfFile: journal, encoding: .utf8)) ?? ""
        let completed = text.split(separator: "\n").filter { $0.contains("\"event\":\"completed\"") }
        let failed = completed.filter { $0.contains("\"status\":\"error\"") }.count
        let started = text.split(separator: "\n").filter { $0.contains("\"event\":\"started\"") }.count
        #expect(failed >= 1 && failed <= 2, "\(failed) failed: at most the 2 engines' tasks\(r)")
        #expect(started <= 2, "\(started) tasks started: none after the failure was seen")
        #expect(r.errLines.last?.contains("3000 tasks") == true, "one summary line, last\(r)")
    }
}
