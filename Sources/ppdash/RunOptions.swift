import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource
import PPSystem
import PPTerm
import Synchronization

/// run's options, shared with resume: the engines, the tasks' flags, the output.
struct RunOptions: ParsableArguments {
    @OptionGroup var engines: EngineOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Run a failed task again up to N times, on another engine where possible.", valueName: "N"))
    var retries: Int = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("Run-time limit per task in seconds (SIGTERM to its process group, then SIGKILL).", valueName: "SECONDS"))
    var timeout: Seconds?

    @Flag(help: "Print one JSON object per task as it completes.")
    var json = false

    @Flag(name: .customLong("keep-order"), help: "Print outputs in submission order.")
    var keepOrder = false

    @Option(help: ArgumentHelp("Stop at the first failure: 'now' kills running tasks, 'soon' lets them finish.", valueName: "mode"))
    var halt: HaltPolicy?

    @Option(name: .customLong("max-output"), parsing: .unconditional, help: ArgumentHelp("Bytes of stdout and of stderr kept per task (head and tail).", valueName: "BYTES"))
    var maxOutput: Int = 65536

    @Flag(help: "Plain output, no dashboard.")
    var headless = false

    @Option(name: .customLong("env"), help: ArgumentHelp("Pass this variable of ours to every task, also on other hosts (repeatable; NAME or NAME,NAME).", valueName: "NAME"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Where tasks run (default: this directory; on other hosts where it exists).", valueName: "DIR"))
    var workdir: String?

    @OptionGroup var refresh: RefreshOption

    @OptionGroup var output: OutputOptions

    func validate() throws {
        try timeout?.check("--timeout")
        try checkCount("--retries", retries, 0...ViewFlags.maxRetries)
        try checkCount("--max-output", maxOutput, 0...WireProtocol.maxOutputPerStream)
        try output.validate(json: json, keepOrder: keepOrder)
        for name in envNames where name.isEmpty || name.contains("=") {
            throw ValidationError("bad --env name '\(name)': give a variable's name, e.g. --env PATH")
        }
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
        // A closed stdout must reach the printer as EPIPE (then the batch stops, tasks signalled, and we end as
        // SIGPIPE): without this, a run with no NIO loop (no journal) died at the write and left its tasks running.
        SignalCatcher.ignore(SIGPIPE)
        let client = try engines.startEngines()
        var view = client.loadBalancedView()
        view.flags.retries = retries
        view.flags.halt = halt
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
        let lines = output.lineBuffer && !dashboard ? LineBuffer() : nil
        view.flags.outputTap = lines?.tap
        let printer = Printer(
            json: json, keepOrder: keepOrder, scheduler: client.scheduler, quiet: dashboard, lines: lines,
            removePrintedSpools: spool.temporary, releasePrinted: !dashboard)
        client.scheduler.addObserver { event in
            session?.record(event)  // first: a task is in the journal before it is printed
            guard case .completed(let task, let batch, _) = event else { return }
            printer.completed(task, batch: batch)
        }
        let ar: AsyncMapResult<ShellResult>
        var input: ShellStream?
        switch work {
        case .sweep(let sweep, _): ar = try view.submit(sweep)
        case .stream(let template, _, let items):
            let stream = try view.openStream(template: template)
            ar = stream.result
            input = stream
            Thread.detachNewThread { items.feed(stream) }
        case .resume(let input): ar = try view.submit(shellTasks: input.tasks, label: input.label)
        }
        session?.writer.flush()

        try BatchEnding(
            ar: ar, client: client, source: source, session: session, printer: printer, json: json, input: input, spool: spool)
            .run(dashboard: dashboard, refresh: refresh)
    }
}

