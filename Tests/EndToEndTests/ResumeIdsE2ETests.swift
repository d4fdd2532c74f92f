// `resume` prints the tasks' ids and seqs of the run (as its journal records them), not the new scheduler's.
import Foundation
import Testing

@Suite("resume prints the run's ids", .endToEndSlot)
struct ResumeIdsE2ETests {
    /// The journal's `completed` lines as (id, status), in order.
    private func completed(_ journal: String) -> [(id: String, status: String)] {
        let text = (try? String(contentsOfFile: journal, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                o["event"] as? String == "completed", let id = o["id"], let status = o["status"] as? String
            else { return nil }
            return ("\(id)", status)
        }
    }

    @Test("tasks 2 and 4 fail, resume (plain, then --json) names them 2 and 4, as the journal does")
    func resumePrintsOriginalIds() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let flag = dir.file("flag")
        let template = "case {} in b|d) [ -e \(flag) ] || exit 3;; esac; echo ok {}"
        let first = await PPDash.run(
            ["run", "-j", "2", "--journal", journal, "--", template, ":::", "a", "b", "c", "d"], timeout: 60)
        #expect(first.exitCode == 2, "\(first)")  // GNU parallel's status: 2 tasks failed
        #expect(Set(completed(journal).filter { $0.status != "ok" }.map(\.id)) == ["2", "4"], "\(first)")

        // Plain mode: the failure lines name the run's ids.
        let again = await PPDash.run(["resume", journal, "-j", "2"], timeout: 60)
        #expect(again.exitCode == 2, "\(again)")
        #expect(again.err.contains("ppdash: task 2 (") && again.err.contains("ppdash: task 4 ("), "\(again.err)")
        #expect(!again.err.contains("ppdash: task 1 (") , "the new scheduler's ids are not printed: \(again.err)")

        // --json: each record's id and seq are the run's, and the journal's completed lines say the same.
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let lines = completed(journal).count
        let ok = await PPDash.run(["resume", journal, "-j", "2", "--json"], timeout: 60)
        #expect(ok.exitCode == 0, "\(ok)")
        let records = ok.outLines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let printed = Set(records.map { "\($0["id"] ?? "?")/\($0["seq"] ?? "?")" })
        #expect(printed == ["2/2", "4/4"], "\(ok.out)")
        #expect(records.allSatisfy { $0["stdout"] as? String == "ok \((($0["seq"] as? Int) == 2) ? "b" : "d")\n" }, "\(ok.out)")
        let journaled = completed(journal).dropFirst(lines)
        #expect(Set(journaled.map(\.id)) == ["2", "4"] && journaled.allSatisfy { $0.status == "ok" }, "\(journaled)")
    }
}
