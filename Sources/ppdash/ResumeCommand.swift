import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource

/// What `resume` runs: the tasks to run again and the journal to append to.
struct ResumeInput {
    let journal: JournalContents
    let tasks: [ShellTask]
    /// Original keys of `tasks`, in order.
    let keys: [String]
    let label: String

    /// Appends a resume header to the journal and opens the socket; the new ids 1... map to the original keys.
    func open(engines: EngineOptions, client: Client, source: any DashboardSource, gatherCompleted: Bool) throws -> JournalSession {
        var header = JournalHeader(
            kind: "resume", run: journal.runs.count + 1, ppdashVersion: ppdashVersion, engines: engines.specTexts)
        header.template = journal.runs[0].header.template
        do {
            let s = try JournalSession(
                path: journal.path, header: header, scheduler: client.scheduler, source: source, append: true,
                gatherCompleted: gatherCompleted, ppdashVersion: ppdashVersion, warn: { journalNotes.write($0) })
            var origins: [Int: String] = [:]
            for (i, k) in keys.enumerated() { origins[i + 1] = k }
            s.writer.setOrigins(origins)
            return s
        } catch {
            client.shutdown()
            note("ppdash: \(error.message)")
            throw ExitCode(1)
        }
    }
}

/// `ppdash resume JOURNAL [run's options]`.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Run again the tasks of a journal that did not complete ok, appending to that journal.",
        discussion: """
            Examples:
              ppdash resume latest --failed-only
              ppdash resume ~/.local/state/ppdash/JOURNAL.jsonl -n 8 --json
            run's options (-e, -n, --json, --retries ...) apply to the tasks run again.
            Tasks the killed ppdash left running here are listed and nothing
            starts, unless --kill-orphans stops them (then they run again).
            """)

    @Argument(help: ArgumentHelp("The journal: a path, or 'latest'.", valueName: "JOURNAL"))
    var journal: String

    @Flag(name: .customLong("failed-only"), help: "Run again only tasks that failed (error, timeout, aborted).")
    var failedOnly = false

    @Flag(name: .customLong("unfinished-only"), help: "Run again only tasks that never completed.")
    var unfinishedOnly = false

    @Flag(name: .customLong("kill-orphans"), help: "Stop tasks of the killed ppdash still running here, then run them again.")
    var killOrphans = false

    @OptionGroup(title: "run's options") var options: RunOptions

    func validate() throws {
        if failedOnly && unfinishedOnly { throw ValidationError("give --failed-only or --unfinished-only, not both") }
    }

    func run() throws {
        let path = try resolveJournal(journal)
        let contents = try readJournal(path)
        switch JournalListing.state(of: contents) {
        case .running(let pid):
            throw ValidationError("\(path) is still being run by ppdash pid \(pid): 'ppdash attach \(path)' to watch it, or stop it first")
        case .runningElsewhere(let host, let pid) where contents.lastRun.endReason == nil:
            throw ValidationError("\(path) was being run on \(host) (pid \(pid)), which may still run it: resume it there")
        default:
            break
        }
        let selection: ResumePlan.Selection = failedOnly ? .failedOnly : unfinishedOnly ? .unfinishedOnly : .all
        let plan = ResumePlan.make(contents, selection: selection)
        for t in plan.elsewhere {
            note("ppdash: task \(t.key) (\(t.command)) was running on \(t.host ?? "?") when ppdash died; it may still run there")
        }
        if !plan.orphans.isEmpty {
            let lines = plan.orphans.map { o -> String in
                let what = SystemFacts.describeGroup(o.processGroup)
                return "  task \(o.task.key) (\(o.task.command)): process group \(o.processGroup)" + (what.isEmpty ? "" : ": \(what)")
            }
            if !killOrphans {
                note("ppdash: \(plan.orphans.count) task\(plan.orphans.count == 1 ? "" : "s") of the interrupted run still run here (ppdash was killed, they were not):")
                for l in lines { note(l) }
                note("ppdash: nothing started: wait for them to end, or 'ppdash resume \(path) --kill-orphans' to stop them and run them again")
                throw ExitCode(1)
            }
            let left = SystemFacts.stopProcessGroups(plan.orphans.map(\.processGroup))
            note("ppdash: stopped \(plan.orphans.count - left.count) orphaned task\(plan.orphans.count == 1 ? "" : "s") of the interrupted run:")
            for l in lines { note(l) }
            if !left.isEmpty {
                note("ppdash: process groups \(left.map(String.init).joined(separator: ", ")) would not stop (another user's?); nothing started")
                throw ExitCode(1)
            }
        }
        if !plan.notRebuildable.isEmpty {
            let first = plan.notRebuildable[0]
            note("ppdash: \(plan.notRebuildable.count) task\(plan.notRebuildable.count == 1 ? " is" : "s are") not shell commands ppdash can run again (e.g. task \(first.key): \(first.command)); only shell sweeps resume")
        }
        if plan.rerun.isEmpty {
            let c = contents.counts
            note("ppdash: nothing to resume in \(path): \(c.total) tasks, \(c.ok) ok, \(plan.leftOut) left out by the selection")
            if !plan.notRebuildable.isEmpty { throw ExitCode(1) }
            return
        }
        note("ppdash: resuming \(path): \(plan.rerun.count) task\(plan.rerun.count == 1 ? "" : "s") to run, \(plan.alreadyOK) already ok")
        let labels = Set(plan.rerun.map(\.task.label))
        let input = ResumeInput(
            journal: contents, tasks: plan.rerun.map(\.work), keys: plan.rerun.map(\.task.key),
            label: labels.count == 1 ? labels.first! : "resume of \(URL(fileURLWithPath: path).lastPathComponent)")
        try options.execute(.resume(input))
    }
}
