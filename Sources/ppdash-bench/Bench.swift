import ArgumentParser
import Foundation
import PPKit
import PPSystem

/// ppdash's figures beside its peers': the recipe, no-op throughput, shell tasks against a C posix_spawn loop,
/// round trips, engines ready, memory per task, the dashboard's frame cost and terminal bytes.
///
/// `swift run -c release ppdash-bench [--quick] [--json] [--peers FILE]`. `proc` workers and the pty capture run the
/// `ppdash` binary built beside this one. bench/compare measures the peers and passes their figures with `--peers`.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppdash-bench",
        abstract: "Measure ppdash against the goals of the benchmark issue (and its peers, with --peers).")

    @Flag(help: "Smaller counts and fewer runs: everything in under a minute.")
    var quick = false

    @Flag(help: "Print one JSON object with every figure instead of the table.")
    var json = false

    @Option(help: ArgumentHelp("Peers' figures to show side by side (written by bench/compare).", valueName: "FILE"))
    var peers: String?

    @Option(help: ArgumentHelp("Also write the JSON object to this file.", valueName: "FILE"))
    var save: String?

    @Option(help: "Engines of each kind for the no-op and round-trip figures.")
    var engines = 4

    @Option(help: "Engine kinds to measure, comma-separated: local, proc.")
    var kinds = "local,proc"

    @Option(
        help:
            "Figure groups to run, comma-separated: recipe, noop, journal, ls, true, rtt, ready, memory, frame, tty, faults, startup, scale.")
    var only = "recipe,noop,journal,ls,true,rtt,ready,memory,frame,tty,faults,startup,scale"

    @Option(help: ArgumentHelp(visibility: .private))
    var child: String?

    @Option(help: ArgumentHelp(visibility: .private))
    var count = 1_000_000

    func validate() throws {
        guard engines >= 1 else { throw ValidationError("--engines must be at least 1") }
        for k in kinds.split(separator: ",") where !["local", "proc"].contains(k) {
            throw ValidationError("unknown kind '\(k)': use local or proc")
        }
    }

    func run() throws {
        if child == "memory" {
            print(String(format: "%.1f", try Memory.child(count: count)))
            return
        }
        if let c = child, c.hasPrefix("frame") {
            // For a profiler (callgrind --toggle-collect='*profiledFrames*'): one dashboard over --count finished
            // no-ops on --engines engines, warmed up, then 100 frames (snapshot + render) in `Frames.profiledFrames`.
            // frame-stream: with the task stream shown; frame-idle: each frame followed by the source's idle()
            // upkeep (as the frame was before the upkeep left it); frame-wait: prints "ready" before the frames and
            // waits for a line on stdin (time to switch a profiler's instrumentation on: callgrind_control -i on).
            let us = try Frames.profile(
                tasks: count, engines: engines, frames: 100, stream: c.contains("stream"), idle: c.contains("idle"),
                wait: c.contains("wait"))
            print(String(format: "%.1f us/frame", us))
            return
        }
        if child == "keys" {
            // The scale group's key-to-frame presses over --count tasks, each logged on stderr (kind, key, query, ms).
            let (rows, upkeepDone) = try Scale.keyToFrame(tasks: count, log: true)
            for (name, p50, p99, n) in rows {
                print("\(name) p50 \(String(format: "%.2f", p50)) ms p99 \(String(format: "%.2f", p99)) ms (\(n) presses)")
            }
            print(upkeepDone.map { "upkeep done after \($0) idle() calls" } ?? "upkeep not done after 100 idle() calls")
            return
        }
        if child == "journal-noop" || child == "noop" {
            // For a profiler (callgrind, perf): one journaled (or plain) batch of --count no-ops on --engines engines.
            let rate = child == "noop"
                ? try Workloads.noops(.local(count: engines), count: count, runs: 1)
                : try JournalBench.journaledNoops(engines: engines, count: count).0
            print(String(format: "%.0f tasks/s", rate))
            return
        }
        let peerFigures = try peers.map { try PeerFigures(path: $0) } ?? PeerFigures()
        let groups = Set(only.split(separator: ",").map(String.init))
        let kinds = self.kinds.split(separator: ",").map(String.init)
        let started = Date()
        var figures = [Figure]()
        func add(_ f: Figure) {
            figures.append(f)
            progress("\(f.name): \(f.unit.format(f.value))")
        }
        let q = quick

        if groups.contains("recipe") {
            let runs = q ? 1 : 3
            add(
                Figure(
                    key: "recipe_local_s", name: "the recipe: 100 x sleep 0.1 -> x*x, 4 in-process engines, wall time",
                    unit: .seconds,
                    value: try Workloads.recipeClosures(runs: runs), goal: .atMost(2.525),
                    note: "median of \(runs); ideal 2.5 s"))
            try RecipeShellBench.figures(quick: q, add: add)
        }
        if groups.contains("noop") {
            if kinds.contains("local") {
                let n = q ? 200_000 : 1_000_000
                let runs = q ? 1 : 3
                add(
                    Figure(
                        key: "noop_local_per_s", name: "no-op tasks/s, load-balanced, \(engines) in-process engines",
                        unit: .perSecond,
                        value: try Workloads.noops(.local(count: engines), count: n, runs: runs),
                        goal: .atLeast(500_000),
                        note: "one batch of \(grouped(Double(n))), median of \(runs)"))
            }
            if kinds.contains("proc") {
                let n = q ? 100_000 : 1_000_000
                let runs = q ? 1 : 3
                add(
                    Figure(
                        key: "noop_proc_per_s", name: "no-op tasks/s over proc:\(engines) worker processes",
                        unit: .perSecond,
                        value: try Workloads.noops(.proc(count: engines), count: n, runs: runs), goal: .atLeast(55_000),
                        note: "one batch of \(grouped(Double(n))), median of \(runs)"))
            }
        }
        if groups.contains("journal") && kinds.contains("local") {
            try JournalBench.figures(quick: q, engines: engines, add: add)
        }
        if groups.contains("ls") {
            let bytes = q ? 100_000_000 : 1_000_000_000
            let (seconds, rss, tasks) = try ListingBench.measure(bytes: bytes, runs: 3)
            let size = q ? "100 MB" : "1 GB"
            add(
                Figure(
                    key: "ls_big_journal_s", name: "ppdash ls over a directory holding a \(size) journal, wall time",
                    unit: .seconds, value: seconds, goal: .atMost(1),
                    note: "the real ppdash ls as a child, median of 3; \(grouped(Double(tasks))) tasks of 1 KB output"))
            add(
                Figure(
                    key: "ls_big_journal_rss_bytes", name: "ppdash ls over a \(size) journal, max RSS",
                    unit: .bytes, value: rss, goal: .atMost(50_000_000), note: "wait4's rusage (GNU time), largest of 3"))
            let n = q ? 100_000 : 1_000_000
            let (resumeRSS, resumeSeconds, journalBytes) = try ListingBench.resumeDryRun(count: n, unfinished: 1000)
            add(
                Figure(
                    key: "resume_read_rss_bytes",
                    name: "ppdash resume --dry-run of a \(grouped(Double(n)))-task journal (\(grouped(Double(journalBytes))) B), max RSS",
                    unit: .bytes, value: resumeRSS, goal: .atMost(Double(20_000_000 + 150 * n)),
                    note: "goal: ~20 MB of process + 150 B a task; \(String(format: "%.2f", resumeSeconds)) s; wait4's rusage (GNU time)"))
        }
        if groups.contains("true") {
            let (mine, floor, runs, n) = try trueTasks()
            add(
                Figure(
                    key: "true_per_s", name: "/bin/true shell tasks/s, 4 at a time", unit: .perSecond, value: mine,
                    note: "median of \(runs) batches of \(n), interleaved with the C loop"))
            add(
                Figure(
                    key: "true_c_loop_per_s", name: "/bin/true, a C posix_spawn loop, 4 in flight", unit: .perSecond,
                    value: floor,
                    note: "median of \(runs) runs of \(n)"))
            add(
                Figure(
                    key: "true_vs_c_loop", name: "/bin/true: ppdash / the C posix_spawn loop", unit: .ratio,
                    value: mine / floor,
                    goal: .atLeast(0.9)))
        }
        if groups.contains("rtt") {
            let rounds = q ? 2_000 : 20_000
            for kind in kinds {
                let spec: EngineSpec = kind == "local" ? .local(count: engines) : .proc(count: engines)
                let (p50, p99) = try Workloads.roundTrip(spec, rounds: rounds)
                let what = kind == "local" ? "in-process" : "over a worker process"
                add(
                    Figure(
                        key: "rtt_\(kind)_p50_us", name: "one task's round trip \(what), p50", unit: .microseconds,
                        value: p50,
                        goal: .atMost(kind == "local" ? 20 : 200),
                        note: "\(grouped(Double(rounds))) rounds, HdrHistogram"))
                add(
                    Figure(
                        key: "rtt_\(kind)_p99_us", name: "one task's round trip \(what), p99", unit: .microseconds,
                        value: p99))
            }
        }
        if groups.contains("ready") {
            let runs = q ? 3 : 5
            for kind in kinds {
                let spec: EngineSpec = kind == "local" ? .local(count: 4) : .proc(count: 4)
                add(
                    Figure(
                        key: "ready_\(kind)_ms", name: "4 \(kind) engines ready after start (each ran a task)",
                        unit: .milliseconds,
                        value: try Workloads.ready(spec, runs: runs), goal: .atMost(100), note: "median of \(runs)"))
            }
        }
        if groups.contains("memory") {
            add(
                Figure(
                    key: "memory_per_task_bytes", name: "memory per finished task record (RSS over 1M no-ops)",
                    unit: .bytes,
                    value: try Memory.perTaskRecord(count: 1_000_000), goal: .atMost(300),
                    note: "a fresh process, malloc_trim before each RSS read"))
        }
        if groups.contains("frame") {
            let frames = q ? 50 : 200
            let (small, big) = try Frames.cost(many: 1_000_000, frames: frames)
            add(
                Figure(
                    key: "frame_100_us", name: "dashboard frame, 100 tasks (snapshot + render)", unit: .microseconds,
                    value: small.render))
            add(
                Figure(
                    key: "frame_1m_us", name: "dashboard frame, 1,000,000 tasks (snapshot + render)",
                    unit: .microseconds, value: big.render))
            add(
                Figure(
                    key: "frame_ratio", name: "dashboard frame cost, 1M / 100 tasks", unit: .ratio,
                    value: big.render / small.render,
                    goal: .atMost(1.2),
                    note: "median of \(frames) frames each at 100x30, taken in turns after 20 to warm up"))
            add(
                Figure(
                    key: "frame_screen_100_us", name: "dashboard frame through ncurses, 100 tasks", unit: .microseconds,
                    value: small.screen))
            add(
                Figure(
                    key: "frame_screen_1m_us", name: "dashboard frame through ncurses, 1,000,000 tasks",
                    unit: .microseconds, value: big.screen))
            add(
                Figure(
                    key: "frame_screen_ratio", name: "dashboard frame through ncurses, 1M / 100 tasks", unit: .ratio,
                    value: big.screen / small.screen, goal: .atMost(1.2), note: "VirtualScreen: erase + copy + refresh")
            )
        }
        if groups.contains("tty") { figures += try terminalBytes(add: add) }
        if groups.contains("faults") { try faultFigures(add: add) }
        if groups.contains("startup") { try JournalBench.startupFigures(quick: q, add: add) }
        if groups.contains("scale") { try Scale.figures(quick: q, add: add) }

        let object = Report.json(figures, peers: peerFigures, machine: machine(started: started))
        if let save { try object.write(toFile: save, atomically: true, encoding: .utf8) }
        if json {
            print(object)
        } else {
            print(heading(started: started))
            print(Report.table(figures, peers: peerFigures))
            let notes = figures.compactMap { f in f.note.map { "- \(f.name): \($0)" } }
            if !notes.isEmpty { print("\nHow:\n" + notes.joined(separator: "\n")) }
        }
    }

    /// ppdash and the C loop on `/bin/true`, interleaved: (ppdash median, C loop median, runs, tasks per run).
    func trueTasks() throws -> (Double, Double, Int, Int) {
        let n = quick ? 300 : 1000
        let runs = 5
        let loop = try SpawnLoop.build()
        defer { loop.remove() }
        let client = Client(engines: 4)
        defer { client.shutdown() }
        _ = try Workloads.trueTasks(client, count: 20)
        _ = try loop.rate(count: 20)
        var mine = [Double]()
        var floor = [Double]()
        for _ in 0..<runs {
            floor.append(try loop.rate(count: n))
            mine.append(try Workloads.trueTasks(client, count: n))
        }
        return (median(mine), median(floor), runs, n)
    }

    /// 4 engines x 25 tasks/s: ~100 tasks/s. (`sleep 0.04` alone would get the argument appended: `sleep 0.04 1`.)
    static let ttyTemplate = "sleep 0.04; : {}"

    /// Bytes the real dashboard writes to a pty while ~100 tasks/s run, and which panes spend them.
    func terminalBytes(add: (Figure) -> Void) throws -> [Figure] {
        let span = quick ? 5.0 : 10.0
        let ppdash = try ppdashBeside()
        let args = ["run", "-j", "4", "--no-journal", "--", Self.ttyTemplate, ":::", "1..1000"]
        let cap = try PtyCapture.interactive(ppdash: ppdash, args: args, rows: 30, cols: 100, seconds: span)
        // From 2 s: the first paint and the first rows finishing are left out even when start-up is slow.
        let steady = Double(cap.bytes(from: 2, to: span)) / (span - 2)
        add(
            Figure(
                key: "tty_bytes_per_s", name: "terminal bytes/s, ~100 tasks/s, default view, 100x30, 10 Hz",
                unit: .bytesPerSecond,
                value: steady, goal: .atMost(600),
                note: "a pty, `ppdash run -j 4 -- '\(Self.ttyTemplate)' ::: 1..1000`, bytes read from 2 s to "
                    + "\(Int(span)) s; the bench answers the status requests as a terminal does"))
        add(
            Figure(
                key: "tty_first_second_bytes", name: "terminal bytes in the first second (first paint)", unit: .bytes,
                value: Double(cap.bytes(from: 0, to: 1))))
        // The same batch with the task stream shown (`t` typed half a second in), as a terminal drives it.
        let stream = try PtyCapture.interactive(
            ppdash: ppdash, args: args, rows: 30, cols: 100, seconds: span, keys: [(0.5, Array("t".utf8))])
        add(
            Figure(
                key: "tty_stream_bytes_per_s", name: "terminal bytes/s, the same batch with the task stream shown",
                unit: .bytesPerSecond, value: Double(stream.bytes(from: 2, to: span)) / (span - 2),
                goal: .atMost(1024), note: "`t` typed at 0.5 s; bytes read from 2 s to \(Int(span)) s"))
        // A slow link: the pty read at 2 KB/s. Once the first paint has gone through, `z` is typed five times, 1.2 s
        // apart (freeze on, off, on, off, on); for each "on", the time until its effect (the header's FROZEN flag)
        // has been read. The median of the three.
        let keyAt = quick ? 5.0 : 6.0
        let presses = (0..<5).map { (keyAt + 1.2 * Double($0), Array("z".utf8)) }
        let slow = try PtyCapture.interactive(
            ppdash: ppdash, args: args, rows: 30, cols: 100, seconds: keyAt + 7, keys: presses, bytesPerSecond: 2048)
        let ons = stride(from: 0, to: slow.keysAt.count, by: 2).map { slow.keysAt[$0] }
        let delays = ons.map { slow.firstSeen(Array("FROZEN".utf8), after: $0) ?? 3 }.sorted()
        let latency = delays.isEmpty ? 3 : delays[delays.count / 2]
        add(
            Figure(
                key: "tty_key_latency_2kbps_ms", name: "key to its effect on a 2 KB/s link (pty read slowly), ms",
                unit: .milliseconds, value: latency * 1000, goal: .atMost(200),
                note: "median of \(delays.count) keystrokes (`z`) from \(keyAt) s into the batch; all: "
                    + delays.map { String(format: "%.0f ms", $0 * 1000) }.joined(separator: ", ")))
        let panes = try Frames.paneBytes(line: "\(Self.ttyTemplate) ::: 1..1000", duration: span)
        add(
            Figure(
                key: "tty_first_paint_bytes", name: "first paint at 100x30, bytes", unit: .bytes,
                value: Double(panes.firstPaint), goal: .atMost(8192), note: "the first frame replayed through ncurses"))
        var out = [Figure]()
        out.append(
            Figure(
                key: "tty_replay_bytes_per_s",
                name: "terminal bytes/s, the same batch in-process, replayed through ncurses",
                unit: .bytesPerSecond, value: panes.total, note: "frames recorded at 10 Hz, replayed into a file"))
        for p in Frames.panes {
            out.append(
                Figure(
                    key: "tty_pane_\(p)_bytes_per_s", name: "  of which the \(p) pane alone", unit: .bytesPerSecond,
                    value: panes.perPane[p] ?? 0))
        }
        for f in out { progress("\(f.name): \(f.unit.format(f.value))") }
        return out
    }

    /// The machine, for the JSON object.
    func machine(started: Date) -> [String: Any] {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return [
            "cores": ProcessInfo.processInfo.activeProcessorCount, "cpu": cpuModel(), "kernel": release,
            "date": ISO8601DateFormatter().string(from: started), "quick": quick,
        ]
    }

    /// One line saying when and where.
    func heading(started: Date) -> String {
        let date = ISO8601DateFormatter().string(from: started)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return "ppdash-bench\(quick ? " --quick" : "") \(date), \(cores) cores (\(cpuModel()))\n"
    }

    /// Progress on stderr, so stdout keeps only the table or the JSON.
    func progress(_ s: String) {
        FileHandle.standardError.write(Data("ppdash-bench: \(s)\n".utf8))
    }
}

/// The CPU's model name from /proc/cpuinfo.
func cpuModel() -> String {
    let text = String(decoding: SystemFacts.contents(of: "/proc/cpuinfo") ?? [], as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
    }
    return "?"
}
