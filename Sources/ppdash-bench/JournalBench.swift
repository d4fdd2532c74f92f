// The journal's cost (issue 17.1) and ppdash's start-up (issue 17.5): each figure beside its goal.
import Foundation
import Glibc
import PPJournal
import PPKit
import PPSource
import PPSystem

enum JournalBench {
    /// No-op tasks/s on `engines` in-process engines without and with the journal (a temporary file, no printer:
    /// completions are gathered), batches taken in turns; and the journal's bytes per task.
    static func noops(engines: Int, count: Int, runs: Int) throws -> (off: Double, on: Double, bytesPerTask: Double) {
        var off = [Double]()
        var on = [Double]()
        var bytes = [Double]()
        for _ in 0..<runs {
            off.append(try Workloads.noops(.local(count: engines), count: count, runs: 1))
            let (rate, perTask) = try journaledNoops(engines: engines, count: count)
            on.append(rate)
            bytes.append(perTask)
        }
        return (median(off), median(on), median(bytes))
    }

    /// One batch of `count` no-ops with the journal on: tasks/s, and the file's bytes per task (header included).
    static func journaledNoops(engines: Int, count: Int) throws -> (Double, Double) {
        let client = try makeClient(.local(count: engines))
        defer { client.shutdown() }
        let dir = try temporaryDirectory("journal")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bench.jsonl"
        let w = try JournalWriter(
            path: path, header: JournalHeader(kind: "bench", ppdashVersion: "bench", engines: ["local:\(engines)"]),
            scheduler: client.scheduler, gatherCompleted: true, warn: { print($0) })
        // The engines' lines, as a run's session writes them (completed lines name the host only where they differ).
        for e in client.scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines { w.recordEngine(e) }
        client.scheduler.addRoundObserver { w.record($0) }
        let view = client.loadBalancedView()
        let warm = 1000
        _ = try view.submit(builtins: Array(repeating: .noop, count: warm)).get()
        let tasks = [BuiltinTask](repeating: .noop, count: count)
        let t0 = seconds()
        _ = try view.submit(builtins: tasks).wait()
        let rate = Double(count) / (seconds() - t0)
        client.scheduler.flushEvents()
        w.finish(reason: "done", totals: client.scheduler.totals)
        var st = stat()
        guard stat(path, &st) == 0 else { throw BenchError("the journal \(path) is gone") }
        return (rate, Double(st.st_size) / Double(count + warm))
    }

    /// `ppdash run -j 4 -- 'echo {}' ::: 1..count` (the real binary, output to /dev/null) with `--no-journal` and with
    /// a journal, in turns: median wall seconds of each.
    static func echo(count: Int, runs: Int) throws -> (off: Double, on: Double) {
        let ppdash = try ppdashBeside()
        let dir = try temporaryDirectory("echo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func once(_ journal: [String]) throws -> Double {
            let args = ["run", "-j", "4"] + journal + ["--", "echo {}", ":::", "1..\(count)"]
            let (wall, status) = try timed(ppdash, args, stateHome: dir)
            guard status == 0 else { throw BenchError("ppdash \(args.joined(separator: " ")) exited \(status)") }
            return wall
        }
        _ = try once(["--no-journal"])
        var off = [Double]()
        var on = [Double]()
        for i in 0..<runs {
            off.append(try once(["--no-journal"]))
            on.append(try once(["--journal", dir + "/echo-\(i).jsonl"]))
        }
        return (median(off), median(on))
    }

    /// Milliseconds from spawning `ppdash` (the dashboard, local engines, its journal on) on a 100x30 pty to the
    /// first bytes it draws (ncurses writes the first frame in one go), median of `runs`.
    static func firstPaint(runs: Int) throws -> Double {
        let ppdash = try ppdashBeside()
        let dir = try temporaryDirectory("paint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var times = [Double]()
        for _ in 0..<runs {
            let cap = try PtyCapture.interactive(
                ppdash: ppdash, args: [], rows: 30, cols: 100, seconds: 0.6, environment: ["XDG_STATE_HOME": dir])
            guard let first = cap.reads.first else { throw BenchError("ppdash drew nothing on the pty") }
            times.append(first.at * 1e3)
        }
        return median(times)
    }

    /// Milliseconds of `ppdash run -- true ::: 1` (its journal on), and GNU parallel's `parallel true ::: 1` when it
    /// is installed; medians of `runs`, after one run each to warm the page cache.
    static func runTrue(runs: Int) throws -> (ppdash: Double, parallel: Double?) {
        let ppdash = try ppdashBeside()
        let dir = try temporaryDirectory("true")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mine = ["run", "--", "true", ":::", "1"]
        let parallel = ["/usr/bin/parallel", "/usr/local/bin/parallel"].first { FileManager.default.isExecutableFile(atPath: $0) }
        _ = try timed(ppdash, mine, stateHome: dir)
        if let parallel { _ = try timed(parallel, ["true", ":::", "1"], stateHome: dir) }
        var a = [Double]()
        var b = [Double]()
        for _ in 0..<runs {
            let (wall, status) = try timed(ppdash, mine, stateHome: dir)
            guard status == 0 else { throw BenchError("ppdash run -- true ::: 1 exited \(status)") }
            a.append(wall * 1e3)
            if let parallel { b.append(try timed(parallel, ["true", ":::", "1"], stateHome: dir).0 * 1e3) }
        }
        return (median(a), parallel == nil ? nil : median(b))
    }

    /// Runs `program args` (stdin, stdout and stderr /dev/null; HOME and XDG_STATE_HOME `stateHome`), waits: wall
    /// seconds and the exit status (128+N for a signal).
    static func timed(_ program: String, _ args: [String], stdout: String = "/dev/null", stateHome: String) throws -> (Double, Int32) {
        var plan = SpawnPlan(
            executable: program, arguments: [program] + args,
            descriptors: [
                .open("/dev/null", flags: O_RDONLY, to: 0), .open(stdout, flags: O_WRONLY | O_CREAT | O_TRUNC, to: 1),
                .open("/dev/null", flags: O_WRONLY, to: 2),
            ])
        plan.environment = ["XDG_STATE_HOME": stateHome, "HOME": stateHome]
        let t0 = seconds()
        let child: ChildProcess
        do throws(Errno) { child = try plan.spawn() } catch {
            throw BenchError("cannot start \(program): \(SystemFacts.errorText(error.rawValue))")
        }
        let status = child.wait()
        let wall = seconds() - t0
        switch status {
        case .exited(let code)?: return (wall, code)
        case .signalled(let s)?: return (wall, 128 + s)
        default: return (wall, -1)
        }
    }

    /// A fresh directory under the temporary directory.
    static func temporaryDirectory(_ what: String) throws -> String {
        let dir = NSTemporaryDirectory() + "/ppdash-bench-\(what)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The rows, added through `add`.
    static func figures(quick q: Bool, engines: Int, add: (Figure) -> Void) throws {
        let n = q ? 200_000 : 1_000_000
        let runs = q ? 1 : 3
        let noop = try noops(engines: engines, count: n, runs: runs)
        add(
            Figure(
                key: "noop_local_nojournal_per_s", name: "no-op tasks/s, \(engines) in-process engines, no journal",
                unit: .perSecond, value: noop.off, note: "taken in turns with the next row; median of \(runs)"))
        add(
            Figure(
                key: "noop_local_journal_per_s",
                name: "no-op tasks/s, \(engines) in-process engines, journal on (temp file)", unit: .perSecond,
                value: noop.on, note: "one batch of \(grouped(Double(n))), median of \(runs)"))
        add(
            Figure(
                key: "journal_noop_ratio", name: "no-op throughput, journal on / off", unit: .ratio,
                value: noop.on / noop.off, goal: .atLeast(0.5)))
        add(
            Figure(
                key: "journal_bytes_per_noop", name: "journal bytes per no-op task", unit: .bytes,
                value: noop.bytesPerTask, goal: .atMost(200), note: "the file's size over its tasks"))
        let echoCount = q ? 500 : 2000
        let echoRuns = q ? 2 : 5
        let echo = try echo(count: echoCount, runs: echoRuns)
        add(
            Figure(
                key: "journal_echo_ratio", name: "`ppdash run -j 4 -- 'echo {}'` throughput, journal on / off",
                unit: .ratio, value: echo.off / echo.on, goal: .atLeast(0.97),
                note: "\(echoCount) tasks, output to /dev/null, runs in turns, median wall of \(echoRuns) each: "
                    + String(format: "%.3f s off, %.3f s on", echo.off, echo.on)))
    }

    /// The start-up rows, added through `add`.
    static func startupFigures(quick q: Bool, add: (Figure) -> Void) throws {
        let runs = q ? 5 : 15
        add(
            Figure(
                key: "startup_first_paint_ms", name: "`ppdash` (dashboard, local engines) to its first paint",
                unit: .milliseconds, value: try firstPaint(runs: runs), goal: .atMost(30),
                note: "a 100x30 pty, spawn to the first bytes drawn, median of \(runs)"))
        let t = try runTrue(runs: runs)
        add(
            Figure(
                key: "run_true_ms", name: "`ppdash run -- true ::: 1`, wall time", unit: .milliseconds, value: t.ppdash,
                goal: .atMost(20), note: "journal on, output to /dev/null, median of \(runs)"))
        if let p = t.parallel {
            add(
                Figure(
                    key: "run_true_gnu_parallel_ms", name: "  GNU parallel: `parallel true ::: 1`, wall time",
                    unit: .milliseconds, value: p, note: "for comparison, median of \(runs), in turns with ppdash"))
        }
    }
}
