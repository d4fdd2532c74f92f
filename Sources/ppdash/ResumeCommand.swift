import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource

/// What `resume` runs: the tasks to run again and the journal to append to.
struct ResumeInput: Sendable {
    let journal: JournalContents
    /// The tasks run again that have a row in the journal's table, then the `tail`'s.
    let tasks: [ShellTask]
    /// The journal's tasks run again, in the order of `tasks`.
    let originals: [JournalTask]
    /// The first run's tasks never submitted, made as they are dispatched (a range of millions costs nothing).
    let tail: PlannedTail?
    let label: String

    /// How many tasks run again.
    var count: Int { tasks.count + (tail?.count ?? 0) }

    /// The `i`-th task run again (0-based).
    func task(_ i: Int) -> ShellTask { i < tasks.count ? tasks[i] : tail!.work(i - tasks.count) }

    /// The journal's key, seq and attempt of the `i`-th task run again (0-based).
    func origin(_ i: Int) -> (key: String, seq: Int, attempt: Int)? {
        guard i >= 0 else { return nil }
        if i < originals.count {
            let t = originals[i]
            return (t.key, t.seq, t.attempt)
        }
        guard let tail, i - originals.count < tail.count else { return nil }
        let seq = tail.seq(i - originals.count)
        return (String(seq), seq, 1)
    }

    /// Appends a resume header to the journal and opens the socket; the new ids 1... are written as the tasks
    /// they run again (their first run's id and seq, with the attempt), computed from the id (nothing a task).
    func open(
        engines: EngineOptions, settings: RunSettings, client: Client, source: any DashboardSource, gatherCompleted: Bool
    ) throws -> JournalSession {
        var header = JournalHeader(
            kind: "resume", run: journal.runs.count + 1, ppdashVersion: ppdashVersion, engines: engines.specTexts)
        header.template = journal.runs[0].header.template
        header.settings = settings
        do {
            let s = try JournalSession(
                path: journal.path, header: header, scheduler: client.scheduler, source: source, append: true,
                gatherCompleted: gatherCompleted, ppdashVersion: ppdashVersion, warn: { journalNotes.write($0) })
            var base = journal.counts
            for t in originals { base[t.status] -= 1 }
            base.pending -= tail?.count ?? 0
            let input = self
            s.writer.setOrigins(
                computed: { id in
                    input.origin(id - 1).map { JournalWriter.Origin(key: $0.key, seq: $0.seq, attempt: $0.attempt + 1) }
                }, base: base)
            return s
        } catch {
            client.shutdown()
            note("ppdash: \(error.message)")
            throw ExitCode(1)
        }
    }
}

/// `resume`: each new task's id and seq in the run (the new ids are 1... in the order of the tasks run again),
/// computed from the id.
struct TaskOrigins: Sendable, ExpressibleByDictionaryLiteral {
    let of: @Sendable (TaskID) -> (key: String, seq: Int)?
    init(_ of: @escaping @Sendable (TaskID) -> (key: String, seq: Int)?) { self.of = of }
    init(dictionaryLiteral elements: (TaskID, (key: String, seq: Int))...) {
        let d = Dictionary(elements, uniquingKeysWith: { $1 })
        of = { d[$0] }
    }
    subscript(_ id: TaskID) -> (key: String, seq: Int)? { of(id) }
}

extension BatchWork {
    /// `resume`: each new task's id and seq in the run (the new ids are 1... in the order of the tasks run again).
    var origins: TaskOrigins {
        guard case .resume(let input) = self else { return [:] }
        return TaskOrigins { id in input.origin(id.rawValue - 1).map { ($0.key, $0.seq) } }
    }
}

/// Whether one of `names` (`--timeout`, `-n`...) was given on this command line (`--x=v`, `-n4` forms too).
func givenOnCommandLine(_ names: [String]) -> Bool {
    let args = CommandLine.arguments.dropFirst()
    for a in args {
        if a == "--" { break }
        for n in names {
            if a == n || a.hasPrefix(n + "=") { return true }
            if !n.hasPrefix("--") && a.hasPrefix(n) && !a.hasPrefix("--") { return true }
        }
    }
    return false
}

extension RunOptions {
    /// The run's recorded options, for each not given again; returns what was reused and what overridden, for
    /// one line each. Tasks run where the run ran: its `--workdir`, else its working directory.
    mutating func reuse(_ journal: JournalContents) throws -> (reused: [String], overridden: [String]) {
        let recorded = journal.runs.last { $0.header.settings != nil }?.header.settings
        let first = journal.runs[0].header
        var reused = [String]()
        var overridden = [String]()
        func take(_ names: [String], _ shown: String?, _ apply: (inout RunOptions) -> Void) {
            guard let shown else { return }
            if givenOnCommandLine(names) {
                overridden.append(names[0] + " (the run had \(shown))")
            } else {
                apply(&self)
                reused.append(names[0] + " " + shown)
            }
        }
        if let r = recorded {
            if let p = r.timeoutPercent, let option = TimeoutOption(argument: (p == p.rounded() && abs(p) < 1e15 ? String(Int64(p)) : "\(p)") + "%") {
                take(["--timeout"], option.text) { $0.timeout = option }
            } else {
                take(["--timeout"], r.timeout.map { String(format: "%g", $0) } ?? "none") { $0.timeout = r.timeout.map { TimeoutOption(Seconds($0)) } }
            }
            take(["--retries"], String(r.retries)) { $0.retries = r.retries }
            take(["--max-output"], String(r.maxOutput)) { $0.maxOutput = r.maxOutput }
            take(["--halt"], r.halt ?? "none") { $0.halt = r.halt.flatMap(HaltOption.init(rawValue:)) }
            if let scheme = r.scheme.flatMap(Scheme.init(rawValue:)) {
                take(["--scheme"], scheme.rawValue) { $0.engines.scheme = scheme }
            }
            if !r.environment.isEmpty { take(["--env"], r.environment.joined(separator: ",")) { $0.env = r.environment } }
        }
        let last = journal.runs.last { !$0.header.engines.isEmpty }?.header.engines ?? []
        if !last.isEmpty {
            var lists = [EngineSpecList]()
            for text in last {
                do throws(PPError) { lists.append(try EngineSpecList(parsing: text)) } catch { lists = []; break }
            }
            if !lists.isEmpty {
                take(["-e", "--engines", "-n", "-j", "-P", "--jobs"], last.joined(separator: ",")) { o in
                    o.engines.engines = lists
                    o.engines.n = nil
                    o.engines.jobs = nil
                }
            }
        }
        let dir = recorded?.workdir ?? (first.workingDirectory.isEmpty ? nil : first.workingDirectory)
        take(["--workdir"], dir) { $0.workdir = dir }
        if workdir == nil { workdir = SystemFacts.currentDirectory }
        if let w = workdir, !SystemFacts.isDirectory(w) {  // the path's bytes (ByteText)
            throw ValidationError("the run's working directory \(ByteText.lossy(w)) is gone: give --workdir DIR to run its tasks elsewhere")
        }
        return (reused, overridden)
    }
}

/// `ppdash resume JOURNAL [run's options]`.
struct ResumeCommand: ParsableCommand, TakesRunOptions {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Run again the tasks of a journal that did not complete ok, appending to that journal.",
        discussion: """
            Examples:
              ppdash resume latest --failed-only
              ppdash resume ~/.local/state/ppdash/JOURNAL.jsonl -j 8 --json
            run's options (-e, -j, --json, --retries ...) apply to the tasks run again.
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

    @OptionGroup(title: "run's options") var flags: RunOptions
    /// RunOptions' groups, declared here (see `RunOptions`) and copied into `options` (`TakesRunOptions`).
    @OptionGroup var engines: EngineOptions
    @OptionGroup var refresh: RefreshOption
    @OptionGroup var output: OutputOptions


    func validate() throws {
        try options.validateWithGroups()
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
            note("ppdash: task \(t.key) (\(Messages.quoted(command: t.command))) was running on \(t.host ?? "?") when ppdash died; it may still run there")
        }
        // What the killed run left running here: the tasks its journal saw start, and any other process carrying
        // its marker (a task started just before the kill, before its `started` line reached the disk).
        let known = Set(plan.orphans.map(\.processGroup))
        // Only runs that were killed (no end line): what a run that ended left running (a daemon a task started on
        // purpose) is not an orphan.
        let markers = Set(
            contents.runs.filter { $0.header.host == SystemFacts.hostName && $0.endReason == nil }.compactMap(\.header.marker))
        let strays = Set(SystemFacts.processes(markedWith: markers).map(\.processGroup).filter { $0 > 1 && !known.contains($0) })
            .sorted()
        let groups = plan.orphans.map(\.processGroup) + strays
        if !groups.isEmpty {
            var lines = plan.orphans.map { o -> String in
                let what = SystemFacts.describeGroup(o.processGroup)
                return "  task \(o.task.key) (\(Messages.quoted(command: o.task.command))): process group \(o.processGroup)" + (what.isEmpty ? "" : ": \(what)")
            }
            for g in strays {
                let what = SystemFacts.describeGroup(g)
                lines.append("  a task whose start the journal did not record: process group \(g)" + (what.isEmpty ? "" : ": \(what)"))
            }
            let n = groups.count
            if !killOrphans {
                note("ppdash: \(n) task\(n == 1 ? "" : "s") of the interrupted run still run here (ppdash was killed, they were not):")
                for l in lines { note(l) }
                note("ppdash: nothing started: wait for them to end, or 'ppdash resume \(path) --kill-orphans' to stop them and run them again")
                throw ExitCode(1)
            }
            let left = SystemFacts.stopProcessGroups(groups)
            note("ppdash: stopped \(n - left.count) orphaned task\(n == 1 ? "" : "s") of the interrupted run:")
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
        if plan.count == 0 {
            let c = contents.counts
            note("ppdash: nothing to resume in \(path): \(c.total) tasks, \(c.ok) ok, \(plan.leftOut) left out by the selection")
            if !plan.notRebuildable.isEmpty { throw ExitCode(1) }
            return
        }
        var options = self.options
        let (reused, overridden) = try options.reuse(contents)
        note("ppdash: resuming \(path): \(plan.count) task\(plan.count == 1 ? "" : "s") to run, \(plan.alreadyOK) already ok")
        let first = contents.runs[0]
        if first.header.kind == "run", first.header.arguments == nil, first.header.template != nil,
            first.endReason == nil || first.endReason?.contains("stdin not read to its end") == true
        {
            // stdin is gone: only the lines the run read (its `submitted` lines) can be run again.
            let input = first.header.settings?.input ?? "stdin"
            if input == "stdin" {
                let when = first.endReason == nil ? "was killed, perhaps before stdin ended" : "ended before stdin did"
                note("ppdash: the run read its arguments from stdin and \(when): the lines it read are run again; input it had not read is not in the journal")
            } else {
                // Files (`:::: FILE`, `-a`), linked groups: the journal has each task's arguments as read, not the
                // input's state; a file changed since does not change what is run again.
                let when = first.endReason == nil ? "was killed, perhaps before its input ended" : "ended before its input did"
                note("ppdash: the run read its arguments from \(input) and \(when): the items it read are run again with the arguments the journal recorded (whatever the files hold now); input it had not read is not in the journal")
            }
        }
        // Tasks with no outcome: the unfinished rows, then the never-submitted tail (named by seq, never listed whole).
        var unknown = plan.rerun.filter { !$0.task.status.isFinished }.map(\.task.key)
        let unknownCount = unknown.count + (plan.tail?.count ?? 0)
        if let tail = plan.tail { unknown += (0..<min(tail.count, max(0, 10 - unknown.count))).map { String(tail.seq($0)) } }
        if unknownCount > 0 {
            let shown = unknown.prefix(10).joined(separator: ", ") + (unknownCount > 10 ? " and \(unknownCount - 10) more" : "")
            note("ppdash: \(unknownCount) task\(unknownCount == 1 ? " has" : "s have") no outcome in the journal (\(shown)): run again")
        }
        if !reused.isEmpty { note("ppdash: with the run's options: \(reused.joined(separator: ", "))") }
        if !overridden.isEmpty { note("ppdash: given here instead: \(overridden.joined(separator: ", "))") }
        var labels = Set(plan.rerun.map(\.task.label))
        if let tail = plan.tail { labels.insert(tail.sweep.template.text) }
        let input = ResumeInput(
            journal: contents, tasks: plan.rerun.map(\.work), originals: plan.rerun.map(\.task), tail: plan.tail,
            label: labels.count == 1 ? labels.first! : "resume of \(URL(fileURLWithPath: path).lastPathComponent)")
        try options.execute(.resume(input))
    }
}
