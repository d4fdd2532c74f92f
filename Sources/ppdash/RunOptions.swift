import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource
import PPSystem
import PPTerm
import Synchronization

/// run's options, shared with resume: the engines, the tasks' flags, the output.
///
/// The three groups below are declared by the commands that take them (`run`, `resume`) and copied in: nested one level deeper, the
/// argument parser's debug-build self-checks (run on every parse, once per validator and nesting level) made each
/// `ppdash run` of a debug build cost a second of CPU.
struct RunOptions: ParsableArguments {
    var engines = EngineOptions()

    @Option(parsing: .unconditional, help: ArgumentHelp("Run a failed task again up to N times, on another engine where possible.", valueName: "N"))
    var retries: Int = 0

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Run-time limit per task in seconds (SIGTERM to its process group, then SIGKILL); 1m30s; or GNU parallel's N% of the median run time of the tasks that succeeded.",
            valueName: "SECONDS|N%"),
        transform: { try TimeoutOption.parse($0) })
    var timeout: TimeoutOption?

    @Flag(help: "Print one JSON object per task as it completes.")
    var json = false

    @Flag(name: [.customShort("k"), .customLong("keep-order")], help: "Print outputs in submission order.")
    var keepOrder = false

    @Option(
        help: ArgumentHelp(
            "Stop at the first failure: 'now' kills running tasks, 'soon' lets them finish; or GNU parallel's now|soon,fail|success|done=N|N%.",
            valueName: "mode"),
        transform: { try HaltOption.parse($0) })
    var halt: HaltOption?

    @Option(name: .customLong("max-output"), parsing: .unconditional, help: ArgumentHelp("Bytes of stdout and of stderr kept per task (head and tail).", valueName: "BYTES"))
    var maxOutput: Int = 65536

    @Flag(help: "Plain output, no dashboard.")
    var headless = false

    @Option(name: .customLong("env"), help: ArgumentHelp("Pass this variable of ours to every task, also on other hosts (repeatable; NAME or NAME,NAME).", valueName: "NAME"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Where tasks run (default: this directory; on other hosts where it exists).", valueName: "DIR"))
    var workdir: String?

    var refresh = RefreshOption()

    var output = OutputOptions()

    enum CodingKeys: String, CodingKey {
        case retries, timeout, json, keepOrder, halt, maxOutput, headless, env, workdir
    }

    func validate() throws {
        try timeout?.check()
        try checkCount("--retries", retries, 0...ViewFlags.maxRetries)
        try checkCount("--max-output", maxOutput, 0...WireProtocol.maxOutputPerStream)
        for name in envNames where name.isEmpty || name.contains("=") {
            throw ValidationError("bad --env name '\(name)': give a variable's name, e.g. --env PATH")
        }
    }

    /// The checks that need the groups: called by `run` and `resume` once they are copied in (the parser's own
    /// `validate()` runs before, when they hold no values yet).
    func validateWithGroups() throws {
        try output.validate(json: json, keepOrder: keepOrder)
    }

    var envNames: [String] { env.flatMap { $0.split(separator: ",").map(String.init) } }

    /// The `--env` variables with our values (unset ones are passed empty, as GNU parallel does).
    var passedEnvironment: [String: String] {
        var out = [String: String]()
        for name in envNames { out[name] = SystemFacts.environment(name) ?? "" }
        return out
    }
}

/// What `run` and `resume` execute.
enum BatchWork {
    /// A sweep from the command line, journaled as `--journal`/`--no-journal` say (`run`).
    case sweep(Sweep, JournalOptions)
    /// Input read as it comes: stdin's items, files, linked groups (`run` without a plain `:::` sweep).
    case stream(Template, JournalOptions, InputFeed)
    /// What a journal left undone, appended to that journal (`resume`).
    case resume(ResumeInput)
}

extension RunOptions {
    /// Runs `work` headless or in the dashboard, with a journal; the exit status says whether every task was ok.
    func execute(_ work: BatchWork) throws {
        if output.dryRun { return try dryRun(work) }
        // Which tasks (--resume, --shuf, --delay) and the joblog, before any engine starts: a joblog that cannot be
        // read or written is a usage error that runs nothing. A sweep (or --shuf's whole input) is listed; input
        // read as it comes is fed, the joblog's Seqs left out as they come (`GNUFeed`).
        var listed: (tasks: [ShellTask], seqs: [Int]?)?
        var streamSkip = Set<Int>()
        switch work {
        case .sweep(let sweep, _) where listsTasks || output.delay != nil:
            listed = try tasks(of: sweep, count: try sweep.checkedCountForRun())
        case .stream(let template, _, let feed):
            if let rows = feed.wholeInput {
                listed = try tasks(count: rows.count, template: template, arguments: { rows[$0] })
            } else {
                streamSkip = try resumeSkips()
            }
        default:
            break
        }
        // Fed one by one (--delay), or input read as it comes with --resume: each task keeps its own Seq.
        var readAsItComes = false
        if case .stream = work, listed == nil { readAsItComes = true }
        let fed = output.delay != nil || (readAsItComes && (output.resume || output.resumeFailed))
        let joblog = try output.joblog.map { try JoblogWriter(path: $0, append: output.resume || output.resumeFailed) }
        applyNice()
        // A closed stdout must reach the printer as EPIPE (then the batch stops, tasks signalled, and we end as
        // SIGPIPE): without this, a run with no NIO loop (no journal) died at the write and left its tasks running.
        SignalCatcher.ignore(SIGPIPE)
        let client = try engines.startEngines()
        var view = client.loadBalancedView()
        view.flags.retries = retries
        view.flags.halt = halt?.when
        view.flags.haltOn = halt?.condition
        view.flags.runTimeLimit = timeout?.value
        view.flags.maxOutput = maxOutput
        view.flags.workingDirectory = workdir ?? SystemFacts.currentDirectory
        view.flags.environment = passedEnvironment
        var dashboard = !headless && !json && isInteractive
        if dashboard, let why = Terminal.unusable() {
            // Found before anything runs: TERM dumb, unset or unknown means plain output, no cursor movement.
            note("ppdash: \(why)")
            dashboard = false
        }
        // Headless: SIGHUP, SIGINT, SIGTERM and SIGQUIT are caught from here on (see BatchEnding).
        if !dashboard { StopSignals.install(StopSignals.run) }
        let source = LocalSource(client: client, flags: view.flags)
        let session: JournalSession?
        switch work {
        case .sweep(let sweep, let journal):
            session = try journal.start(
                kind: "run", engines: engines, client: client, source: source, template: sweep.template.text,
                arguments: sweep.groups, settings: recordedSettings, gatherCompleted: dashboard)
        case .stream(let template, let journal, let feed):
            // Each task's arguments are on its `submitted` line: the header holds no groups; its options say what
            // the input was.
            var settings = recordedSettings
            settings.input = feed.input
            session = try journal.start(
                kind: "run", engines: engines, client: client, source: source, template: template.text,
                arguments: nil, settings: settings, gatherCompleted: dashboard)
        case .resume(let input):
            session = try input.open(
                engines: engines, settings: recordedSettings, client: client, source: source, gatherCompleted: dashboard)
        }
        defer { session?.finish() }
        // Output past --max-output goes on whole to the spool (beside the journal, else a temporary directory).
        let spool = SpoolPlace(journal: session?.path, run: session?.writer.run ?? 1)
        defer { spool.finish() }
        view.flags.spoolDirectory = spool.directory
        // A stream past 8 KiB goes whole to the spool where a journal line (which keeps 8 KiB) or the dashboard (which
        // lets finished output leave memory) needs it; headless without a journal, only past --max-output.
        if session == nil && !dashboard { ShellLimits.spoolFromSetting.store(Int.max, ordering: .relaxed) }
        // GNU parallel's side: the joblog, --results, the exit status.
        let knownTotal = listed?.tasks.count
        let scheduler = client.scheduler
        let gnu = GNURun(
            joblog: joblog, results: output.results, seqs: fed ? [] : listed?.seqs, halt: halt,
            total: { knownTotal ?? scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals.total })
        let tagOf = output.tagger(seq: { gnu.seq($0) })
        let live = !dashboard && (output.ungroup || (output.lineBuffer && !keepOrder)) && output.results == nil && !output.files
        var lineTag: (@Sendable (TaskID) -> String?)?
        if let tagOf { lineTag = { @Sendable id in scheduler.metadata(id).map(tagOf) } }
        let lines = live ? LineBuffer(raw: output.ungroup, tagOf: lineTag) : nil
        view.flags.outputTap = lines?.tap
        let printer = Printer(
            json: json, keepOrder: keepOrder && !output.ungroup, scheduler: client.scheduler, quiet: dashboard, lines: lines,
            removePrintedSpools: spool.temporary, releasePrinted: !dashboard, origins: work.origins,
            sink: output.results != nil ? .none : output.files ? .files : .print, tagOf: tagOf)
        // --timeout N%: a limit decided as tasks succeed.
        let percentTimeout = timeout?.percent.map { PercentTimeout(scheduler: scheduler, percent: $0) }
        percentTimeout?.start()
        defer { percentTimeout?.stop() }
        client.scheduler.addRoundObserver { events in
            session?.record(events)  // first: a task is in the journal before it is printed (one write per round)
            for event in events {
                percentTimeout?.observe(event)
                guard case .completed(let task, let batch, _) = event else { continue }
                if let m = scheduler.metadata(task) { gnu.completed(m) }
                printer.completed(task, batch: batch)
            }
        }
        let hold =
            output.memfree != nil || output.load != nil
            ? DispatchHold(scheduler: scheduler, memfree: output.memfree?.bytes, load: try output.load.map { try output.loadLimit($0) })
            : nil
        hold?.start()
        defer { hold?.stop() }
        let ar: AsyncMapResult<ShellResult>
        var input: ShellStream?
        let gnuFeed = GNUFeed(skip: streamSkip, delay: output.delay?.value, gnu: gnu)
        switch work {
        case .sweep(let sweep, _) where fed:
            let stream = try view.openStream(template: sweep.template)
            ar = stream.result
            let tasks = listed!.tasks
            Thread.detachNewThread { gnuFeed.feed(stream, tasks: tasks) }
        case .sweep(let sweep, _) where listed != nil:
            ar = try view.submit(shellTasks: listed!.tasks, label: sweep.template.text)
        case .sweep(let sweep, _): ar = try view.submit(sweep)
        case .stream(let template, _, let items) where fed:
            let stream = try view.openStream(template: template)
            ar = stream.result
            input = stream
            if let tasks = listed?.tasks {
                Thread.detachNewThread { gnuFeed.feed(stream, tasks: tasks) }
            } else {
                Thread.detachNewThread { items.feed(stream, gnu: gnuFeed) }
            }
        case .stream(let template, _, _) where listed != nil:
            ar = try view.submit(shellTasks: listed!.tasks, label: template.text)
        case .stream(let template, _, let items):
            let stream = try view.openStream(template: template)
            ar = stream.result
            input = stream
            Thread.detachNewThread { items.feed(stream) }
        case .resume(let r) where r.tail == nil:
            ar = try view.submit(shellTasks: (0..<r.count).map(r.task), label: r.label)
        case .resume(let r):
            // The never-submitted tail is made as it is dispatched (bounded read-ahead, the sweep's path): resuming
            // a range of millions costs nothing up front, and the batch counts every task from the start, so a run
            // stopped early (SIGTERM, --halt) aborts and counts those never made, as `run` does. Ids stay 1... in
            // order (the journal computes each task's origin from its id): the dashboard takes no other batch until
            // the last task is made.
            ar = try view.submitLazy(count: r.count, label: r.label, task: r.task)
        }
        session?.writer.flush()

        var ending = BatchEnding(
            ar: ar, client: client, source: source, session: session, printer: printer, json: json, input: input, spool: spool)
        ending.gnu = gnu
        try ending.run(dashboard: dashboard, refresh: refresh)
    }
}



/// A command that takes run's options: `RunOptions` and its three groups, declared side by side (see `RunOptions`).
protocol TakesRunOptions {
    var flags: RunOptions { get }
    var engines: EngineOptions { get }
    var refresh: RefreshOption { get }
    var output: OutputOptions { get }
}

extension TakesRunOptions {
    /// run's options with their groups copied in.
    var options: RunOptions {
        var o = flags
        o.engines = engines
        o.refresh = refresh
        o.output = output
        return o
    }
}
