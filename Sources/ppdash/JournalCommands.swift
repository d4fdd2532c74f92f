import ArgumentParser
import Foundation
import PPDash
import PPJournal
import PPKit
import PPSource
import Synchronization

/// `--journal FILE` / `--no-journal`, shared by run, demo and the dashboard.
struct JournalOptions: ParsableArguments {
    @Option(
        name: .customLong("journal"),
        help: ArgumentHelp(
            "Write the task journal here (default: a new file in $XDG_STATE_HOME/ppdash/, else ~/.local/state/ppdash/).",
            valueName: "FILE"))
    var path: String?

    @Flag(name: .customLong("no-journal"), help: "Write no journal (then no 'ppdash attach' and no 'ppdash resume').")
    var off = false

    func validate() throws {
        if path != nil && off { throw ValidationError("give --journal FILE or --no-journal, not both") }
    }

    /// Opens the journal and its socket for a run of `kind`; nil with --no-journal, or after one warning when the
    /// place cannot be written (the batch runs on). An existing --journal FILE is refused, never overwritten.
    func start(
        kind: String, engines: EngineOptions, client: Client, source: any DashboardSource, template: String? = nil,
        arguments: [[String]]? = nil, gatherCompleted: Bool = false
    ) throws -> JournalSession? {
        guard !off else { return nil }
        let started = SystemClock().now()
        let file =
            path.map(absolutePath)
            ?? JournalFormat.defaultDirectory() + "/"
            + JournalFormat.fileName(started: started, host: SystemFacts.hostName, pid: SystemFacts.pid)
        let header = JournalHeader(
            kind: kind, ppdashVersion: ppdashVersion, engines: engines.specTexts, template: template,
            arguments: arguments, started: started)
        do {
            return try JournalSession(
                path: file, header: header, scheduler: client.scheduler, source: source,
                gatherCompleted: gatherCompleted, makeDirectory: path == nil, ppdashVersion: ppdashVersion,
                warn: { journalNotes.write($0) })
        } catch let e where e.kind == .exists {
            client.shutdown()
            throw UsageError(message: e.message)
        } catch {
            journalNotes.write("ppdash: \(error.message); the batch runs on without a journal (--journal FILE to choose another place)")
            return nil
        }
    }
}

extension EngineOptions {
    /// The engine specs as given, for the journal's header.
    var specTexts: [String] { engines.isEmpty ? ["local:\(engineCount)"] : engines }
}

/// `path` made absolute against the working directory.
func absolutePath(_ path: String) -> String {
    let expanded = (path as NSString).expandingTildeInPath
    return expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
}

/// Journal and socket warnings: held while the dashboard owns the terminal, printed after.
let journalNotes = DeferredNotes()

final class DeferredNotes: Sendable {
    private let state = Mutex<(muted: Bool, held: [String])>((false, []))
    func write(_ line: String) {
        let now = state.withLock { s -> Bool in
            if s.muted { s.held.append(line) }
            return !s.muted
        }
        if now { note(line) }
    }
    func mute(_ on: Bool) {
        let held = state.withLock { s -> [String] in
            s.muted = on
            defer { if !on { s.held = [] } }
            return on ? [] : s.held
        }
        for line in held { note(line) }
    }
}

/// A journal named on the command line: a path, or `latest`.
func resolveJournal(_ name: String?) throws -> String {
    let dir = JournalFormat.defaultDirectory()
    guard let name, name != "latest" else {
        guard let p = JournalListing.latest(in: dir) else {
            throw UsageError(message: "no journal in \(dir) yet: ppdash run, demo and the dashboard write one there")
        }
        return p
    }
    return absolutePath(name)
}

/// Reads a journal for resume or attach: a refusal (newer format, corrupt, another user's) is one line, exit 2.
func readJournal(_ path: String) throws -> JournalContents {
    do {
        let c = try JournalReader.read(path)
        for w in c.warnings { note("ppdash: \(w)") }
        return c
    } catch {
        throw UsageError(message: error.message)
    }
}

// MARK: - resume

/// What `resume` hands to `run`: the tasks to run again and the journal to append to.
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
            run's options (-e, -n, --json, --retries ...) go after the journal.
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

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("run's options.", valueName: "run-options"))
    var runOptions: [String] = []

    func validate() throws {
        if failedOnly && unfinishedOnly { throw ValidationError("give --failed-only or --unfinished-only, not both") }
    }

    func run() throws {
        var runCommand: RunCommand
        do {
            runCommand = try RunCommand.parse(runOptions)
        } catch {
            throw UsageError(message: RunCommand.message(for: error) + " (resume takes run's options after JOURNAL)")
        }
        if !runCommand.words.isEmpty && runCommand.words != ["--"] {
            throw UsageError(message: "resume takes no template or arguments: the journal holds them (got '\(runCommand.words.joined(separator: " "))')")
        }
        if runCommand.journal.path != nil || runCommand.journal.off {
            throw UsageError(message: "resume appends to JOURNAL itself: --journal and --no-journal do not apply")
        }
        let path = try resolveJournal(journal)
        let contents = try readJournal(path)
        switch JournalListing.state(of: contents) {
        case .running(let pid):
            throw UsageError(message: "\(path) is still being run by ppdash pid \(pid): 'ppdash attach \(path)' to watch it, or stop it first")
        case .runningElsewhere(let host, let pid) where contents.lastRun.endReason == nil:
            throw UsageError(message: "\(path) was being run on \(host) (pid \(pid)), which may still run it: resume it there")
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
        try runCommand.execute(sweep: nil, resume: input)
    }
}

// MARK: - ls

/// `ppdash ls`: recent journals and their state.
struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List recent journals: running (host, pid), finished or interrupted, with counts.")

    @Option(help: "How many journals, newest first.")
    var limit = 20

    @Option(help: ArgumentHelp("Where to look (default: $XDG_STATE_HOME/ppdash, else ~/.local/state/ppdash).", valueName: "DIR"))
    var dir: String?

    func run() throws {
        let directory = dir.map(absolutePath) ?? JournalFormat.defaultDirectory()
        let list = JournalListing.list(directory: directory, limit: max(1, limit))
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

// MARK: - attach

/// `ppdash attach [JOURNAL|latest]`: the dashboard on a running ppdash's socket, or its journal read-only.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Open the dashboard on a running batch (same keys; q or d detach, Q stops the batch).",
        discussion: """
            Examples:
              ppdash attach            # the newest batch running here, else the newest journal
              ppdash attach ~/.local/state/ppdash/20261129-101220-login1-4711.jsonl
            When the ppdash that ran the batch has ended, its journal opens read-only, and the header says so.
            """)

    @Argument(help: ArgumentHelp("The journal: a path, or 'latest' (the default).", valueName: "JOURNAL"))
    var journal: String?

    @Option(help: "Refresh interval in seconds.")
    var refresh: Double = 0.1

    func validate() throws {
        if !(refresh > 0) { throw ValidationError("--refresh must be > 0 seconds (got \(refresh))") }
    }

    func run() throws {
        let path = try resolveJournal(journal)
        let contents = try readJournal(path)
        let last = contents.lastRun.header
        let state = JournalListing.state(of: contents)
        var source: any DashboardSource
        var live: SocketSource?
        var why = ""
        switch state {
        case .running(let pid):
            if let socket = last.socket {
                do {
                    live = try SocketSource(socket: socket, journal: path)
                } catch {
                    why = "ppdash pid \(pid) runs but its socket does not answer (\(error.message))"
                }
            } else {
                why = "ppdash pid \(pid) runs without a socket"
            }
        case .runningElsewhere(let host, let pid):
            why = "it runs on \(host) (pid \(pid)): attach there ('ssh \(host) ppdash attach \(path)')"
        case .finished:
            why = "its ppdash (pid \(last.pid)) finished"
        case .interrupted:
            why = "its ppdash (pid \(last.pid)) is gone without finishing ('ppdash resume \(path)' runs the rest)"
        }
        if let live {
            source = live
        } else {
            source = JournalSource(contents, label: "read-only")
            note("ppdash: \(path) opened read-only: \(why)")
        }

        guard isInteractive else {
            let c = (live?.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals) ?? contents.counts
            print("\(path): \(live != nil ? "running, pid \(live!.server.pid)" : state.description)")
            print("tasks: \(c.total), \(c.done) done: \(c.ok) ok, \(c.failed) failed; \(c.running) running, \(c.pending) pending")
            return
        }
        var options = DashboardOptions(refreshInterval: refresh)
        options.attached = true
        let exit = runDashboard(source: source, options: options)
        if case .noTerminal(let reason) = exit {
            note("ppdash: \(reason)")
            throw ExitCode(1)
        }
        guard let live, exit != .hangup else { return }
        if live.stoppedBatch {
            note("ppdash: batch stopped (pid \(live.server.pid)); the journal records every task")
        } else if live.isReadOnly {
            note("ppdash: the batch's ppdash (pid \(live.server.pid)) has ended; 'ppdash ls' shows how it ended")
        } else if case let t = live.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals, t.pending + t.running == 0 {
            note("ppdash: detached; the batch is done (pid \(live.server.pid))")
        } else {
            note("ppdash: detached; the batch runs on (pid \(live.server.pid)): 'ppdash attach \(path)' comes back")
        }
    }
}

// MARK: - stopping on signals outside the dashboard

/// SIGINT/SIGTERM (and, while detached from a terminal, SIGHUP) caught as a flag the waiting loops poll.
enum StopSignals {
    private static let caught = Atomic<Int32>(0)

    /// Catches `signals` from now on; `caughtSignal` reports the first.
    static func install(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        for sig in signals {
            var sa = sigaction()
            #if os(Linux)
                sa.__sigaction_handler.sa_handler = { s in StopSignals.record(s) }
            #else
                sa.__sigaction_u.__sa_handler = { s in StopSignals.record(s) }
            #endif
            sigemptyset(&sa.sa_mask)
            sa.sa_flags = SA_RESTART
            sigaction(sig, &sa, nil)
        }
    }

    private static func record(_ sig: Int32) {
        _ = caught.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent)
    }

    /// The first signal caught, if any.
    static var caughtSignal: Int32? {
        let s = caught.load(ordering: .sequentiallyConsistent)
        return s == 0 ? nil : s
    }
}
