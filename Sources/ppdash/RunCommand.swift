import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource
import Synchronization

/// A shell sweep, GNU parallel style: `ppdash run [options] -- TEMPLATE [::: ARGS ...]`.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command template over arguments, in parallel (GNU parallel's syntax).",
        discussion: """
            Examples:
              ppdash run -n 4 -- 'sleep 0.1; echo $(({}*{}))' ::: 0..99
              ls *.txt | ppdash run -- gzip {}
            Without ::: the arguments are stdin's lines. {} {1} {#} {%} {.} {/} {//} {/.} as in GNU parallel.
            Exit status: 0 all ok, 1 any task failed or timed out, 2 usage error.
            """)

    @OptionGroup var engines: EngineOptions

    @Option(parsing: .unconditional, help: "Run a failed task again up to N times, on another engine where possible.")
    var retries: Int = 0

    @Option(parsing: .unconditional, help: "Run-time limit per task in seconds (SIGTERM to its process group, then SIGKILL).")
    var timeout: Double?

    @Flag(help: "Print one JSON object per task as it completes.")
    var json = false

    @Flag(name: .customLong("keep-order"), help: "Print outputs in submission order.")
    var keepOrder = false

    @Option(help: "Stop at the first failure: 'now' kills running tasks, 'soon' lets them finish.")
    var halt: HaltMode?

    @Option(name: .customLong("max-output"), help: "Bytes of stdout and of stderr kept per task (head and tail).")
    var maxOutput: Int = 65536

    @Flag(help: "Plain output, no dashboard.")
    var headless = false

    @Option(name: .customLong("env"), help: ArgumentHelp("Pass this variable of ours to every task, also on other hosts (repeatable; NAME or NAME,NAME).", valueName: "NAME"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Where tasks run (default: this directory; on other hosts where it exists).", valueName: "DIR"))
    var workdir: String?

    @Option(help: "Dashboard refresh interval in seconds.")
    var refresh: Double = 0.1

    @OptionGroup var journal: JournalOptions

    @Argument(parsing: .captureForPassthrough, help: "-- TEMPLATE [::: ARGS ...]")
    var words: [String] = []

    enum HaltMode: String, ExpressibleByArgument {
        case now, soon
    }

    func validate() throws {
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be > 0 seconds (got \(timeout))") }
        if retries < 0 { throw ValidationError("--retries must be >= 0 (got \(retries))") }
        if maxOutput < 0 { throw ValidationError("--max-output must be >= 0 (got \(maxOutput))") }
        if refresh <= 0 { throw ValidationError("--refresh must be > 0 seconds") }
        for name in envNames where name.isEmpty || name.contains("=") {
            throw ValidationError("bad --env name '\(name)': give a variable's name, e.g. --env PATH")
        }
    }

    var envNames: [String] { env.flatMap { $0.split(separator: ",").map(String.init) } }

    /// The `--env` variables with our values (unset ones are passed empty, as GNU parallel does).
    var passedEnvironment: [String: String] {
        var out = [String: String]()
        for name in envNames { out[name] = ProcessInfo.processInfo.environment[name] ?? "" }
        return out
    }

    func run() throws {
        var rest = words
        if rest.first == "--" { rest.removeFirst() }
        if let flag = rest.first, flag.hasPrefix("-"), flag != "-" {
            throw UsageError(message: "unknown option '\(flag)' (put the command after --; see ppdash run --help)")
        }
        var sweep: Sweep
        do { sweep = try Sweep.parse(words: rest) } catch { throw UsageError(message: error.description) }
        if sweep.groups.isEmpty {
            var lines = [String]()
            while let line = readLine(strippingNewline: true) { lines.append(line) }
            sweep = Sweep(template: sweep.template, groups: [lines])
        }
        try execute(sweep: sweep, resume: nil)
    }

    /// Runs `sweep`, or what a journal left undone (`ppdash resume`), headless or in the dashboard, with a journal.
    func execute(sweep: Sweep?, resume: ResumeInput?) throws {
        let client = try engines.startEnginesOrExit()
        var view = client.loadBalancedView()
        view.flags.retries = retries
        view.flags.runTimeLimit = timeout
        view.flags.maxOutput = maxOutput
        view.flags.workingDirectory = workdir ?? FileManager.default.currentDirectoryPath
        view.flags.environment = passedEnvironment
        let dashboard = !headless && !json && isInteractive
        let printer = Printer(json: json, keepOrder: keepOrder, scheduler: client.scheduler, quiet: dashboard)
        let halter = Halter(mode: halt, scheduler: client.scheduler)
        let source = LocalSource(client: client, flags: view.flags)
        let session =
            try resume?.open(engines: engines, client: client, source: source, gatherCompleted: dashboard)
            ?? journal.start(
                kind: "run", engines: engines, client: client, source: source, template: sweep?.template.text,
                arguments: sweep?.groups, gatherCompleted: dashboard)
        defer { session?.finish() }
        client.scheduler.addObserver { event in
            session?.record(event)  // first: a task is in the journal before it is printed
            guard case .completed(let task, let batch, let status) = event else { return }
            printer.completed(task, batch: batch)
            if status.isFailure { halter.failed(batch: batch) }
        }
        let ar = try resume.map { try view.submit(shellTasks: $0.tasks, label: $0.label) } ?? view.submit(sweep!)
        session?.writer.flush()
        printer.expect(first: ar.msgIds.first ?? TaskID(1), count: ar.count)

        if dashboard {
            engineLog.mute(true)
            defer { engineLog.mute(false) }
            switch openDashboard(source, refresh: refresh, session: session) {
            case .handled(let code):
                throw ExitCode(code)
            case .fallback(let why):
                note("ppdash: \(why)")
            }
        }
        var progress = ProgressLine(tty: isatty(2) == 1 && !json)
        StopSignals.install()
        while !ar.wait(timeout: 0.2) {
            if progress.tty { progress.update(ar.counts, elapsed: ar.elapsed) }
            if let sig = StopSignals.caughtSignal {
                // Ctrl-C or SIGTERM: pending tasks aborted, running ones signalled, all recorded as aborted.
                client.shutdown()
                if progress.tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                printer.flush()
                session?.finish(reason: sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)")
                note("ppdash: stopped by \(sig == SIGINT ? "SIGINT" : "SIGTERM"): pending tasks aborted, running ones signalled")
                throw ExitCode(128 + sig)
            }
        }
        if progress.tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        printer.flush()
        let c = ar.counts
        note(
            "ppdash: \(c.total) tasks: \(c.ok) ok, \(c.failed) failed (\(c.error) error, \(c.timeout) timeout, \(c.aborted) aborted) in "
                + String(format: "%.2f s", ar.elapsed))
        client.shutdown()
        if c.failed > 0 { throw ExitCode(1) }
    }
}

/// Prints each task's output as it completes (or in submission order).
final class Printer: Sendable {
    let json: Bool
    let keepOrder: Bool
    let quiet: Bool
    let scheduler: Scheduler
    /// Next seq to print and the outputs waiting for it (keep-order). Guarded by this Mutex.
    let pending = Mutex<(first: Int, next: Int, held: [Int: TaskMetadata])>((1, 0, [:]))

    init(json: Bool, keepOrder: Bool, scheduler: Scheduler, quiet: Bool) {
        self.json = json
        self.keepOrder = keepOrder
        self.scheduler = scheduler
        self.quiet = quiet
    }

    func expect(first: TaskID, count: Int) {
        pending.withLock { $0.first = first.rawValue }
    }

    func completed(_ task: TaskID, batch: BatchID) {
        guard !quiet, let m = scheduler.metadata(task) else { return }
        if !keepOrder { return emit(m) }
        let ready: [TaskMetadata] = pending.withLock { p in
            p.held[m.seq - 1] = m
            var out = [TaskMetadata]()
            while let next = p.held.removeValue(forKey: p.next) {
                out.append(next)
                p.next += 1
            }
            return out
        }
        for r in ready { emit(r) }
    }

    func flush() {
        let rest = pending.withLock { p -> [TaskMetadata] in
            let r = p.held.sorted { $0.key < $1.key }.map(\.value)
            p.held.removeAll()
            return r
        }
        for r in rest { emit(r) }
    }

    private func emit(_ m: TaskMetadata) {
        if json {
            writeAll(1, FlatTaskRecord(m).jsonLine() + "\n")
        } else {
            if !m.stdout.text.isEmpty { writeAll(1, m.stdout.text) }
            if !m.stderr.text.isEmpty { writeAll(2, m.stderr.text) }
            if m.status != .ok, let e = m.error {
                writeAll(2, "ppdash: task \(m.id) (\(m.text)) \(m.status): \(e)\n")
            }
        }
    }
}

/// Stops the batch at the first failure when `--halt` asks.
final class Halter: Sendable {
    let mode: RunCommand.HaltMode?
    let scheduler: Scheduler
    let fired = Mutex(false)
    init(mode: RunCommand.HaltMode?, scheduler: Scheduler) {
        self.mode = mode
        self.scheduler = scheduler
    }
    func failed(batch: BatchID) {
        guard let mode, fired.withLock({ f in defer { f = true }; return !f }) else { return }
        switch mode {
        case .now:
            scheduler.abort(batch: batch)
        case .soon:
            // No new task starts; running ones finish.
            let snap = scheduler.snapshot(TableQuery(filter: "pending", limit: Int.max / 2))
            for row in snap.table.rows where row.batch == batch { scheduler.abort(task: row.id) }
        }
    }
}

/// write(2) all of `s` to `fd`, so outputs of concurrent tasks never interleave within one task.
func writeAll(_ fd: Int32, _ s: String) {
    var bytes = Array(s.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EPIPE {
                // The reader is gone; NIO ignores SIGPIPE process-wide, so end as SIGPIPE would have.
                signal(SIGPIPE, SIG_DFL)
                raise(SIGPIPE)
            }
            return
        }
        off += n
    }
}
