import Foundation
import Histogram
import PPJournal
import PPKit
import PPSource
import PPSystem

/// Monotonic seconds.
func seconds() -> Double { SystemTime.monotonicSeconds() }

/// The median of `xs` (the upper one of an even count).
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s[s.count / 2]
}

/// The `ppdash` binary beside this one (the build folder), for `proc` workers and the pty capture.
func ppdashBeside() throws -> String {
    let me = SystemFacts.executablePath ?? CommandLine.arguments[0]
    let ppdash = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("ppdash").path
    guard FileManager.default.isExecutableFile(atPath: ppdash) else {
        throw BenchError("no ppdash beside \(me): build it first (swift build -c release --product ppdash)")
    }
    return ppdash
}

/// A client on fresh `spec` engines and a fresh scheduler; `proc` workers run the `ppdash` beside this binary.
func makeClient(_ spec: EngineSpec) throws -> Client {
    var options = EngineLaunchOptions()
    if case .proc = spec { options.workerExecutable = try ppdashBeside() }
    return try EngineLauncher(specs: [spec], scheduler: Scheduler(), options: options).makeClient()
}

/// Runs `body` on a load-balanced view of fresh `spec` engines warmed by 1000 no-ops, then stops them.
func withEngines<T>(_ spec: EngineSpec, _ body: (View) throws -> T) throws -> T {
    let client = try makeClient(spec)
    defer { client.shutdown() }
    let view = client.loadBalancedView()
    _ = try view.submit(builtins: Array(repeating: .noop, count: 1000)).get()
    return try body(view)
}

/// The scheduler and engine figures.
enum Workloads {
    /// The recipe: 100 tasks sleeping 0.1 s and returning x*x, on 4 in-process engines; wall seconds, median of `runs`.
    static func recipeClosures(runs: Int) throws -> Double {
        try withEngines(.local(count: 4)) { view in
            var walls = [Double]()
            for _ in 0..<runs {
                let t0 = seconds()
                let ar = try view.mapAsync(
                    { (x: Int) -> Int in
                        Timings.sleep(0.1)
                        return x * x
                    }, 0..<100)
                let values = try ar.get()
                walls.append(seconds() - t0)
                guard values == (0..<100).map({ $0 * $0 }) else { throw BenchError("the recipe returned wrong values") }
            }
            return median(walls)
        }
    }

    /// No-op tasks per second on `spec`, one batch of `count`, best of `runs` batches' median.
    static func noops(_ spec: EngineSpec, count: Int, runs: Int, journal: Bool = false) throws -> Double {
        let client = try makeClient(spec)
        defer { client.shutdown() }
        var writer: JournalWriter?
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppdash-bench-\(getpid())")
        if journal {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let w = try JournalWriter(
                path: dir.appendingPathComponent("bench.jsonl").path,
                header: JournalHeader(kind: "bench", ppdashVersion: "bench", engines: [spec.description]),
                scheduler: client.scheduler, gatherCompleted: true, warn: { print($0) })
            client.scheduler.addObserver { w.record($0) }
            writer = w
        }
        defer {
            writer?.finish(reason: "done", totals: client.scheduler.totals)
            if journal { try? FileManager.default.removeItem(at: dir) }
        }
        let view = client.loadBalancedView()
        _ = try view.submit(builtins: Array(repeating: .noop, count: 1000)).get()
        var rates = [Double]()
        for _ in 0..<runs {
            let tasks = [BuiltinTask](repeating: .noop, count: count)
            let t0 = seconds()
            _ = try view.submit(builtins: tasks).wait()
            rates.append(Double(count) / (seconds() - t0))
        }
        return median(rates)
    }

    /// One task's round trip (submit, run, the waiter wakes) on `spec`: p50 and p99 in microseconds over `rounds`.
    static func roundTrip(_ spec: EngineSpec, rounds: Int) throws -> (p50: Double, p99: Double) {
        try withEngines(spec) { view in
            var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
            for _ in 0..<rounds {
                let t0 = SystemTime.monotonicNanoseconds()
                _ = try view.submit(builtins: [.noop]).wait()
                _ = h.record(UInt64(max(1, SystemTime.monotonicNanoseconds() - t0)))
            }
            return (Double(h.valueAtPercentile(50)) / 1e3, Double(h.valueAtPercentile(99)) / 1e3)
        }
    }

    /// Milliseconds from nothing to 4 engines of `spec` that have each run a task; median of `runs`.
    static func ready(_ spec: EngineSpec, runs: Int) throws -> Double {
        var times = [Double]()
        for _ in 0..<runs {
            let t0 = seconds()
            let client = try makeClient(spec)
            let ids = client.ids
            guard ids.count == spec.count else { throw BenchError("\(spec): \(ids.count) engines came up") }
            for id in ids { _ = try client.directView(targets: [id]).submit(builtins: [.noop]).get() }
            times.append((seconds() - t0) * 1e3)
            let workers = client.scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.map(\.info.pid)
            client.shutdown()
            waitUntilGone(workers)
        }
        return median(times)
    }

    /// Waits (at most 10 s) until these worker processes have exited and been reaped: `shutdown` closes their links
    /// and returns, and a run started while hundreds of the last run's workers still exit measures them too (on 2
    /// cores the second of three runs took 3x the first).
    static func waitUntilGone(_ pids: [Int32]) {
        let end = seconds() + 10
        var left = pids.filter { $0 > 0 && $0 != getpid() }
        while !left.isEmpty, seconds() < end {
            left.removeAll { !SystemFacts.processExists($0) }
            if !left.isEmpty { usleep(5_000) }
        }
    }

    /// `/bin/true` as shell tasks on 4 in-process engines: tasks per second for one batch of `count` on `client`.
    static func trueTasks(_ client: Client, count: Int) throws -> Double {
        let template = try Template("/bin/true")
        let tasks = (0..<count).map { ShellTask(template: template, args: [], seq: $0 + 1) }
        let t0 = seconds()
        let results = try client.loadBalancedView().submit(shellTasks: tasks, label: "true").get()
        let rate = Double(count) / (seconds() - t0)
        guard results.allSatisfy({ $0.exitStatus == 0 }) else { throw BenchError("/bin/true failed") }
        return rate
    }
}

extension EngineSpec {
    /// The engine count of a local or proc spec.
    var count: Int {
        switch self {
        case .local(let n), .proc(let n), .ssh(let n, _), .slurm(let n): n
        case .listen: 0
        }
    }
}
