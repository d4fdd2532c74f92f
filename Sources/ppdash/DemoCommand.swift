import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSource

/// The cookbook recipe: `f(x)` sleeps and returns `x*x`, mapped over `0..<tasks` on a load-balanced view.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run the IPython Cookbook recipe: map a sleeping square over a load-balanced view.")

    @OptionGroup var engines: EngineOptions

    @Option(parsing: .unconditional, help: "How many tasks.")
    var tasks: Int = 100

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds each task sleeps.", valueName: "SECONDS"))
    var sleep = Seconds(0.1)

    /// The longest `--sleep`: a day.
    static let maxSleep: Double = 86_400

    @Flag(help: "Plain output, no dashboard.")
    var headless = false

    @OptionGroup var refresh: RefreshOption

    @OptionGroup var journal: JournalOptions

    func validate() throws {
        try checkCount("--tasks", tasks, 0...ViewFlags.maxBatchTasks)
        try sleep.check("--sleep", 0...DemoCommand.maxSleep, "from 0 to \(Int(DemoCommand.maxSleep))")
    }

    func run() throws {
        // The recipe's cluster has 4 engines: so does the demo unless -n or -e says otherwise.
        var engines = self.engines
        if engines.n == nil && engines.jobs == nil && engines.engines.isEmpty { engines.n = 4 }
        let client = try engines.startEngines()
        let view = client.loadBalancedView()
        let source = LocalSource(client: client)
        let session = try journal.start(kind: "demo", engines: engines, client: client, source: source, gatherCompleted: true)
        session?.observe()
        defer { session?.finish() }
        let ar = try view.submit(
            builtins: (0..<tasks).map { .sleepSquare(x: $0, seconds: sleep.value) }, label: "f(x): sleep \(sleep.value); x*x")
        if !headless && isInteractive { note("ppdash: \(try openDashboard(source, refresh: refresh, session: session))") }
        var progress = ProgressLine(tty: isatty(2) == 1)
        StopSignals.install()
        while !ar.wait(timeout: 0.1) {
            if let sig = StopSignals.caughtSignal {
                client.shutdown()  // pending aborted, running stopped, all journaled as aborted
                session?.finish(reason: StopSignals.stopReason(sig))
                throw ExitCode(128 + sig)
            }
            session?.writer.flush()  // the journal has every task the progress line counts
            progress.update(ar.counts, elapsed: ar.elapsed)
        }
        session?.writer.flush()
        progress.update(ar.counts, elapsed: ar.elapsed, final: true)
        let values = (try? ar.get()) ?? []
        print("results (submission order):")
        for (x, v) in values.enumerated() { print("  f(\(x)) = \(v)") }
        if let m = ar.metadata(0) {
            print("metadata[0]:")
            for line in describe(m) { print("  " + line) }
        }
        print(String(format: "elapsed: %.3f s", ar.elapsed))
        print(String(format: "serial time: %.3f s", (try? ar.serialTime) ?? 0))
        print(String(format: "wall time: %.3f s", (try? ar.wallTime) ?? 0))
        client.shutdown()
        if ar.counts.failed > 0 { throw ExitCode(1) }
    }
}

/// A task's metadata as `key: value` lines, like the recipe's `ar.metadata[0]`.
func describe(_ m: TaskMetadata) -> [String] {
    var out = [
        "msg_id: \(m.msgId)",
        "batch: \(m.batch)",
        "engine_id: \(m.engine.map(String.init) ?? "None")",
        "host: \(m.engineHost ?? "None")",
        "status: \(m.status)",
        "submitted: \(m.submitted.iso8601)",
        "started: \(m.started?.iso8601 ?? "None")",
        "completed: \(m.completed?.iso8601 ?? "None")",
        "received: \(m.received?.iso8601 ?? "None")",
        "retries: \(m.retries)",
    ]
    if let d = m.duration { out.append(String(format: "duration: %.6f s", d)) }
    out.append("stdout: \(m.stdout.text.debugDescription)")
    out.append("stderr: \(m.stderr.text.debugDescription)")
    out.append("error: \(m.error ?? "None")")
    return out
}
