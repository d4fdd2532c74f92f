import ArgumentParser
import Foundation
import PPKit
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

    @Option(help: "Dashboard refresh interval in seconds.")
    var refresh: Double = 0.1

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

        let client = engines.makeClient()
        var view = client.loadBalancedView()
        view.flags.retries = retries
        view.flags.runTimeLimit = timeout
        view.flags.maxOutput = maxOutput
        view.flags.workingDirectory = FileManager.default.currentDirectoryPath
        let dashboard = !headless && !json && isInteractive
        let printer = Printer(json: json, keepOrder: keepOrder, scheduler: client.scheduler, quiet: dashboard)
        let halter = Halter(mode: halt, scheduler: client.scheduler)
        client.scheduler.addObserver { event in
            guard case .completed(let task, let batch, let status) = event else { return }
            printer.completed(task, batch: batch)
            if status.isFailure { halter.failed(batch: batch) }
        }
        let ar = try view.submit(sweep)
        printer.expect(first: ar.msgIds.first ?? TaskID(1), count: ar.count)

        if dashboard {
            switch openDashboard(LocalSource(client: client, flags: view.flags), refresh: refresh) {
            case .handled(let code):
                throw ExitCode(code)
            case .fallback(let why):
                note("ppdash: \(why)")
            }
        }
        var progress = ProgressLine(tty: isatty(2) == 1 && !json)
        while !ar.wait(timeout: 0.2) {
            if progress.tty { progress.update(ar.counts, elapsed: ar.elapsed) }
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
            return
        }
        off += n
    }
}
