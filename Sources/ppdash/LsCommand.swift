import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource

/// `ppdash ls`: recent journals and their state.
struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List recent journals: running (host, pid), finished or interrupted, with counts.")

    @Option(help: "How many journals, newest first.")
    var limit = 20

    @Option(help: ArgumentHelp("Where to look (default: $XDG_STATE_HOME/ppdash, else ~/.local/state/ppdash).", valueName: "DIR"))
    var dir: String?

    func validate() throws { try checkCount("--limit", limit, 1...Int.max) }

    func run() throws {
        let directory = dir.map(absolutePath) ?? JournalFormat.defaultDirectory()
        let list = JournalListing.list(directory: directory, limit: limit)
        guard !list.isEmpty else {
            print("no journals in \(directory)")
            return
        }
        let home = NSHomeDirectory()
        var rows = [["STARTED", "STATE", "TASKS", "OK", "FAILED", "LEFT", "JOURNAL"]]
        for s in list {
            let shown = s.path.hasPrefix(home + "/") ? "~" + s.path.dropFirst(home.count) : Substring(s.path)
            if let problem = s.problem {
                rows.append(["?", "unreadable", "", "", "", "", String(shown) + "  (" + problem + ")"])
                continue
            }
            let c = s.counts
            var state = s.state.description
            if s.runs > 1 { state += ", \(s.runs - 1) resume\(s.runs == 2 ? "" : "s")" }
            rows.append([
                localTime(s.started), state, String(c.total), String(c.ok), String(c.failed),
                String(c.pending + c.running), String(shown),
            ])
        }
        let widths = (0..<7).map { i in rows.map { $0[i].count }.max() ?? 0 }
        for r in rows {
            var line = ""
            for i in 0..<7 {
                let cell = r[i]
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                line += i >= 2 && i <= 5 ? pad + cell : cell + (i == 6 ? "" : pad)
                if i < 6 { line += "  " }
            }
            print(line)
        }
    }

    private func localTime(_ t: Timestamp) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: t.seconds))
    }
}
