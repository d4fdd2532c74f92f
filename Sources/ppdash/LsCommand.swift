import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource

/// `ppdash ls`: recent journals and their state; `--prune` removes finished ones.
struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List recent journals: running (host, pid), finished or interrupted, with counts and what they ran.",
        discussion: """
            Examples:
              ppdash ls
              ppdash ls --prune --keep 20            # remove finished journals but the newest 20
              ppdash ls --prune --older-than 7       # remove finished journals older than 7 days
            --prune removes a journal with its spool (X.spool/), its socket and its registry entry; never one that
            runs, nor an interrupted one (resume it, or remove it by hand).
            """)

    @Option(help: "How many journals, newest first.")
    var limit = 20

    @Option(help: ArgumentHelp("Where to look (default: $XDG_STATE_HOME/ppdash, else ~/.local/state/ppdash).", valueName: "DIR"))
    var dir: String?

    @Flag(help: "Remove finished journals (with --keep and/or --older-than; alone: all finished ones).")
    var prune = false

    @Option(help: ArgumentHelp("With --prune: keep the newest N finished journals.", valueName: "N"))
    var keep: Int?

    @Option(name: .customLong("older-than"), help: ArgumentHelp("With --prune: remove only journals unchanged for DAYS days.", valueName: "DAYS"))
    var olderThan: Double?

    func validate() throws {
        try checkCount("--limit", limit, 1...1_000_000)
        if let keep { try checkCount("--keep", keep, 0...1_000_000) }
        if let olderThan, !(olderThan.isFinite && olderThan >= 0 && olderThan <= 100_000) {
            throw ValidationError("--older-than must be a number of days from 0 to 100000 (got \(olderThan))")
        }
        if !prune && (keep != nil || olderThan != nil) { throw ValidationError("--keep and --older-than go with --prune") }
    }

    func run() throws {
        let directory = dir.map(absolutePath) ?? JournalFormat.defaultDirectory()
        if prune { return try runPrune(directory) }
        let list: [JournalSummary]
        do { list = try JournalListing.list(directory: directory, limit: limit) } catch {
            note("ppdash: \(error.description)")
            throw ExitCode(1)
        }
        guard !list.isEmpty else {
            print("no journals in \(directory)")
            return
        }
        let home = NSHomeDirectory()
        var rows = [["STARTED", "STATE", "TASKS", "OK", "FAILED", "LEFT", "TEMPLATE", "JOURNAL"]]
        for s in list {
            let shown = s.path.hasPrefix(home + "/") ? "~" + s.path.dropFirst(home.count) : Substring(s.path)
            if let problem = s.problem {
                rows.append(["?", "damaged", "", "", "", "", "", String(shown) + "  (" + problem + ")"])
                continue
            }
            var state = s.state.description
            if let r = s.runs, r > 1 { state += ", \(r - 1) resume\(r == 2 ? "" : "s")" }
            if let d = s.damage { state += ", damaged lines (\(d))" }
            if s.uncounted > 0 { state += ", \(s.uncounted) re-run\(s.uncounted == 1 ? "" : "s") not in the counts" }
            let what = s.header.template ?? s.header.kind
            let shortWhat = what.count > 40 ? String(what.prefix(39)) + "…" : what
            if let c = s.counts {
                rows.append([
                    localTime(s.started), state, String(c.total), String(c.ok), String(c.failed),
                    String(c.pending + c.running), shortWhat, String(shown),
                ])
            } else {
                rows.append([
                    localTime(s.started), state, s.planned.map(String.init) ?? "?", "?", "?", "?", shortWhat, String(shown),
                ])
            }
        }
        let columns = rows[0].count
        let widths = (0..<columns).map { i in rows.map { $0[i].count }.max() ?? 0 }
        for r in rows {
            var line = ""
            for i in 0..<columns {
                let cell = r[i]
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                line += i >= 2 && i <= 5 ? pad + cell : cell + (i == columns - 1 ? "" : pad)
                if i < columns - 1 { line += "  " }
            }
            print(ByteText.lossy(line))  // a template byte that is not UTF-8: U+FFFD
        }
    }

    private func runPrune(_ directory: String) throws {
        let result: JournalPruning.Result
        do {
            result = try JournalPruning.prune(
                directory: directory, keep: keep ?? 0, olderThanDays: olderThan, now: SystemClock().now())
        } catch {
            note("ppdash: \(error.description)")
            throw ExitCode(1)
        }
        for r in result.removed { print("removed \(r)") }
        for (p, why) in result.failed { note("ppdash: could not remove \(p): \(why)") }
        print(
            "pruned \(result.removedJournals) journal\(result.removedJournals == 1 ? "" : "s"); kept \(result.kept) (\(result.keptRunning) running or interrupted)"
        )
        if !result.failed.isEmpty { throw ExitCode(1) }
    }

    private func localTime(_ t: Timestamp) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: t.seconds))
    }
}
