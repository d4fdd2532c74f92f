import ArgumentParser
import Foundation
import Glibc
import PPJournal
import PPKit
import PPSource
import PPSystem

/// A shell sweep, GNU parallel style: `ppdash run [options] [--] TEMPLATE [::: ARGS ...]`.
struct RunCommand: ParsableCommand, TakesRunOptions {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command template over arguments, in parallel (GNU parallel's syntax).",
        usage: "ppdash run [<options>] [--] TEMPLATE [::: ARGS ...]",
        discussion: """
            Examples:
              ppdash run -j 4 -- 'sleep 0.1; echo $(({}*{}))' ::: 0..99
              ls *.txt | ppdash run -- gzip {}
            Without ::: the arguments are stdin's lines (-0: NUL-separated items), run as they are read.
            :::+ ARGS links to the group before; :::: FILE (- is stdin) and ::::+ FILE read a file's items.
            {} {1} {#} {%} {.} {/} {//} {/.} as in GNU parallel.
            Exit status (GNU parallel's): 0 all ok, N the number of tasks that failed or timed out (101: more than
            100), as --halt says when it fires; 2 usage error (GNU parallel: 255).
            """)

    @OptionGroup var flags: RunOptions
    /// RunOptions' groups, declared here (see `RunOptions`) and copied into `options` (`TakesRunOptions`).
    @OptionGroup var engines: EngineOptions
    @OptionGroup var refresh: RefreshOption
    @OptionGroup var output: OutputOptions


    @OptionGroup var journal: JournalOptions

    @Flag(name: [.customShort("0"), .customLong("null")], help: "Stdin's items are separated by NUL bytes, not newlines.")
    var null = false

    @OptionGroup(title: "Input (GNU parallel's)") var input: InputArguments

    /// The template and its arguments: everything from the first word that is not one of run's options, as given
    /// (so a template's own flags, `grep -v`, stay the template's).
    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp(
            "The command template, then ::: and its arguments (without :::, stdin's lines).", valueName: "template"))
    var words: [String] = []

    func validate() throws {
        try options.validateWithGroups()
        guard let first = words.first, first != "--", first != "-", first.hasPrefix("-") else { return }
        // The passthrough array holds whatever stood where an option may: the built-in flags are the library's.
        if ["-h", "--help", "-help"].contains(first) { throw CleanExit.helpRequest(self) }
        if first == "--version" { throw CleanExit.message(ppdashVersion) }
        if let refusal = InputArguments.refusal(first) { throw ValidationError(refusal) }
        throw ValidationError("Unknown option '\(first)' (put the command after --; see 'ppdash run --help')")
    }

    func run() throws {
        let plan: InputPlan
        do {
            plan = try InputPlan.parse(
                words: Array(words.first == "--" ? words.dropFirst() : words[...]), argFiles: input.argFiles,
                options: try input.options(null: null))
        } catch let e as SweepError {
            throw ValidationError(e.description)
        }
        if plan.readsStdin && isatty(0) == 1 { note("ppdash: reading arguments from the terminal; end with Ctrl-D") }
        // Headless for sure: signals are caught before the engines start (a SIGQUIT or SIGHUP then is not lost).
        let headless = options.headless || options.json || !isInteractive
        if let sweep = plan.sweep {
            do { _ = try sweep.checkedCount() } catch { throw ValidationError(error.description) }
            if headless { StopSignals.install(StopSignals.run) }
            return try options.execute(.sweep(sweep, journal))
        }
        // Files and stdin are streams: tasks are submitted as their items are read (no cap: stdin may never end).
        // Opened before signals are caught: a wait on --header's first line (a terminal, a FIFO) ends with Ctrl-C.
        let feed: InputFeed
        do { feed = try InputFeed(plan) } catch { throw ValidationError(error.description) }
        // --shuf reads it all first (a Ctrl-C still ends a read that waits).
        if output.shuf { try feed.readWhole() }
        if headless { StopSignals.install(StopSignals.run) }
        try options.execute(.stream(feed.template, journal, feed))
    }
}

/// How a submitted `run` (or `resume`) batch ends: the dashboard if it opens, else (and after a hangup) the headless
/// wait; then the outputs, one summary line last, and the exit status: 0 all ok, else GNU parallel's (the number of
/// tasks not ok up to 101, or as --halt set it; an aborted task is not ok), 128+N when signal N stopped the batch.
struct BatchEnding {
    let ar: AsyncMapResult<ShellResult>
    let client: Client
    let source: LocalSource
    let session: JournalSession?
    let printer: Printer
    let json: Bool
    /// The stdin stream feeding the batch, if it is one.
    var input: ShellStream? = nil
    /// The run's spool place: a temporary one is cleaned up on every way out, the SIGPIPE one too.
    let spool: SpoolPlace
    /// GNU parallel's side of the run: the exit status it counts, the joblog.
    var gnu: GNURun? = nil

    /// Said in the journal's end reason when stdin was not read to its end (resume then says that input is gone).
    private var unread: String { input.map { $0.inputEnded ? "" : "; stdin not read to its end" } ?? "" }

    func run(dashboard: Bool, refresh: RefreshOption) throws {
        var hungUp: Timestamp?
        if dashboard {
            switch try showDashboard(source, refresh: refresh, session: session) {
            case .quit(let open):
                // Leaving the dashboard ends the run as a headless one would: what is still open is stopped
                // (pending aborted, running signalled: aborted, so the status is 1), then the outputs the
                // dashboard showed are printed on stdout, as GNU parallel would have, and the summary.
                let unread = self.unread
                if open > 0 { client.shutdown() }
                session?.writer.flush()
                printer.speak()
                return try end(reason: (open > 0 ? "stopped (left the dashboard with \(open) tasks open)" : "done") + unread)
            case .hangup(let at):
                // The terminal is gone: the batch runs on; the outputs are in the journal (nothing can be printed).
                hungUp = at
            case .noTerminal(let why):
                note("ppdash: \(why)")
                // No dashboard after all: the outputs it was to show are printed, journaled first.
                session?.writer.flush()
                printer.speak()
            }
        }
        StopSignals.install(StopSignals.run)
        var progress = ProgressLine(tty: isatty(2) == 1 && !json)
        while true {
            let done = ar.wait(timeout: 0.2)
            // Signals first, also when the batch has just ended: a hangup that came before the end is told.
            while let sig = StopSignals.next() {
                if sig != SIGHUP { try stop(by: sig, hungUp: hungUp, progress: progress) }
                // A hangup (the terminal or the ssh link is gone) does not stop the batch: it runs to its end, the
                // journal and `attach` keep working; writes to the gone terminal fail (EIO) and are skipped.
                if hungUp == nil {
                    hungUp = SystemClock().now()
                    note("ppdash: hangup (SIGHUP): the batch runs on\(session.map { "; journal \($0.path)" } ?? "")")
                }
            }
            if done {
                // Done; but after a hangup the process stays while a view is attached (it may submit more).
                guard hungUp != nil, let session else { break }
                let t = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
                if session.viewerCount == 0 && t.pending + t.running == 0 { break }
                usleep(200_000)
            }
            if progress.tty && hungUp == nil { progress.update(ar.counts, elapsed: ar.elapsed, open: ar.isOpen) }
            printer.noteLinesClosed()
            if printer.outputClosed.load(ordering: .relaxed) { break }
        }
        progress.clear()
        if printer.outputClosed.load(ordering: .relaxed) {
            // stdout's reader is gone (`| head`): stop as a filter would, recorded in the journal, and end as SIGPIPE.
            let unread = self.unread
            client.shutdown()
            session?.finish(reason: "stdout closed (EPIPE)" + unread)
            note("ppdash: stdout closed: " + summary() + "; pending tasks aborted, running ones signalled")
            spool.finish()  // the exit below skips the caller's defer
            endBySIGPIPE()
        }
        try end(reason: (hungUp.map { "finished; terminal hung up at \($0.iso8601)" } ?? "done") + unread, hungUp: hungUp != nil)
    }

    /// The batch is over: outputs flushed, the journal closed with `reason`, the summary last, the status.
    private func end(reason: String, hungUp: Bool = false) throws {
        printer.flush()
        client.shutdown()
        session?.finish(reason: reason)
        note("ppdash: " + summary())
        let lost = outputWriteError.load(ordering: .relaxed)
        if lost != 0 && !(lost == EIO && hungUp) {
            // Output that did not reach stdout (a full disk, a device error) is not a success.
            note("ppdash: some task output could not be written to stdout: \(SystemFacts.errorText(lost))"
                + (session.map { "; the journal \($0.path) has it" } ?? ""))
            throw ExitCode(1)
        }
        // GNU parallel's status: the number of failed tasks (101 for more than 100), or as --halt set it. Every
        // task counts, also those an attached view submitted.
        if let gnu {
            let status = gnu.exitStatus
            if status != 0 { throw ExitCode(status) }
        } else if source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals.failed > 0 {
            throw ExitCode(1)
        }
        // A journal (or joblog) that could not be written (it said so at once): the run did not do what it promised.
        if session?.writer.hasFailed == true || gnu?.hasFailed == true { throw ExitCode(1) }
    }

    /// Ctrl-C, SIGTERM or SIGQUIT (Ctrl-\): pending tasks aborted, running ones signalled, all recorded as aborted;
    /// one summary line, last (aborted tasks are counted, not listed).
    private func stop(by sig: Int32, hungUp: Timestamp?, progress: ProgressLine) throws -> Never {
        let unread = self.unread
        client.shutdown()
        progress.clear()
        printer.flush()
        session?.finish(reason: StopSignals.stopReason(sig) + (hungUp.map { "; terminal hung up at \($0.iso8601)" } ?? "") + unread)
        note("ppdash: stopped by \(StopSignals.name(sig)): " + summary() + "; pending tasks aborted, running ones signalled")
        throw ExitCode(128 + sig)
    }

    /// One line: the batch's counts and time.
    private func summary() -> String {
        let c = ar.counts
        return "\(c.total) \(c.total == 1 ? "task" : "tasks"): \(c.ok) ok, \(c.failed) failed (\(c.error) error, \(c.timeout) timeout, \(c.aborted) aborted) in "
            + String(format: "%.2f s", ar.elapsed)
    }
}
