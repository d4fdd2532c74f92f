import Foundation
import PPDash
import PPKit
import PPSource
import PPSystem
import PPTerm

/// Issue 17's scale rows: a thousand engines (dispatch rate, frame cost from 4 to 1,000 engines, 256 worker
/// processes ready) and a million tasks (each key's time to its frame).
enum Scale {
    static func figures(quick q: Bool, add: (Figure) -> Void) throws {
        let n = q ? 200_000 : 1_000_000
        let runs = q ? 1 : 3
        add(
            Figure(
                key: "noop_local_1000_per_s", name: "no-op tasks/s, load-balanced, 1,000 in-process engines",
                unit: .perSecond, value: try Workloads.noops(.local(count: 1000), count: n, runs: runs),
                goal: .atLeast(500_000), note: "one batch of \(grouped(Double(n))), median of \(runs)"))
        let (few, many, fewStream, manyStream) = try engineFrames(frames: q ? 50 : 200)
        add(
            Figure(
                key: "frame_4_engines_us", name: "dashboard frame, 4 engines, 100 tasks (snapshot + render)",
                unit: .microseconds, value: few))
        add(
            Figure(
                key: "frame_1000_engines_us", name: "dashboard frame, 1,000 engines, 100 tasks", unit: .microseconds,
                value: many))
        add(
            Figure(
                key: "frame_engines_ratio", name: "dashboard frame cost, 1,000 / 4 engines", unit: .ratio,
                value: many / few, goal: .atMost(1.2), note: "median of frames taken in turns at 100x30, after 20 to warm up"))
        add(
            Figure(
                key: "frame_stream_4_engines_us", name: "dashboard frame with the task stream, 4 engines",
                unit: .microseconds, value: fewStream))
        add(
            Figure(
                key: "frame_stream_1000_engines_us", name: "dashboard frame with the task stream, 1,000 engines",
                unit: .microseconds, value: manyStream))
        add(
            Figure(
                key: "frame_stream_engines_ratio", name: "dashboard frame cost with the task stream, 1,000 / 4 engines",
                unit: .ratio, value: manyStream / fewStream, goal: .atMost(1.2),
                note: "after 2,100 no-ops (every engine's ring has runs), the stream shown (t), as the row above"))
        let readyRuns = q ? 1 : 3
        add(
            Figure(
                key: "ready_proc_256_ms", name: "256 proc engines ready after start (each ran a task)",
                unit: .milliseconds, value: try Workloads.ready(.proc(count: 256), runs: readyRuns),
                goal: .atMost(1000), note: "median of \(readyRuns); workers forked by a fork server"))
        // The same with an exec per worker (the fork server off), for comparison: what the fork server saves.
        setenv("PPDASH_FORK_SERVER", "0", 1)
        defer { unsetenv("PPDASH_FORK_SERVER") }
        add(
            Figure(
                key: "ready_proc_256_exec_ms", name: "256 proc engines ready, an exec per worker (PPDASH_FORK_SERVER=0)",
                unit: .milliseconds, value: try Workloads.ready(.proc(count: 256), runs: 1), note: "one run"))
        unsetenv("PPDASH_FORK_SERVER")
        let (keys, upkeepDone) = try keyToFrame(tasks: n)
        for (name, p50, p99, samples) in keys {
            if name == "upkeep" {
                // The longest step of upkeep between frames: a key typed meanwhile waits for it.
                add(
                    Figure(
                        key: "idle_step_\(n / 1000)k_max_ms", name: "longest upkeep step between frames, \(grouped(Double(n))) tasks",
                        unit: .milliseconds, value: p99, goal: .atMost(50),
                        note: "\(samples) idle() calls while the dashboard warms up (key copy and texts, then the 9 sort orders in steps); "
                            + (upkeepDone.map { "all done in \($0) calls" } ?? "not done in \(samples) calls") + "; median \(String(format: "%.2f", p50)) ms"))
                continue
            }
            add(
                Figure(
                    key: "key_\(name)_\(n / 1000)k_p50_ms", name: "\(name) key to its frame, \(grouped(Double(n))) tasks, p50",
                    unit: .milliseconds, value: p50))
            add(
                Figure(
                    key: "key_\(name)_\(n / 1000)k_p99_ms", name: "\(name) key to its frame, \(grouped(Double(n))) tasks, p99",
                    unit: .milliseconds, value: p99, goal: .atMost(50),
                    note: "\(samples) presses: handle (query, snapshot) + render at 100x30"))
        }
    }

    /// Median microseconds per frame (poll + render) with 4 and with 1,000 in-process engines, 100 finished tasks;
    /// then the same with the task stream shown, after 2,000 more tasks (so every engine's ring holds runs).
    static func engineFrames(frames: Int) throws -> (Double, Double, Double, Double) {
        var clients = [Client]()
        defer { for c in clients { c.shutdown() } }
        var controllers = [DashboardController]()
        for engines in [4, 1000] {
            let client = Client(engines: engines)
            clients.append(client)
            _ = try client.loadBalancedView().submit(builtins: [BuiltinTask](repeating: .noop, count: 100)).wait()
            controllers.append(DashboardController(source: LocalSource(client: client), size: Frames.size, capabilities: Frames.caps))
        }
        let m = Frames.frameMedians(controllers, frames: frames)
        var streams = [DashboardController]()
        for client in clients {
            _ = try client.loadBalancedView().submit(builtins: [BuiltinTask](repeating: .noop, count: 2000)).wait()
            let c = DashboardController(source: LocalSource(client: client), size: Frames.size, capabilities: Frames.caps)
            Frames.showStream(c)
            streams.append(c)
        }
        let s = Frames.frameMedians(streams, frames: frames)
        return (m[0], m[1], s[0], s[1])
    }

    /// Milliseconds from a key to its frame, p50 and p99, per kind of key, over `tasks` finished no-op tasks on 4
    /// engines: the dashboard polled 100 times first (10 s at 10 Hz: the copy of the keys warm, as a user finds it).
    /// `log`: each press's kind, key, query and milliseconds on stderr (`--child keys`, to see which press is slow).
    /// Also returns after how many upkeep calls everything was ready (nil: not within the 100).
    static func keyToFrame(tasks: Int, log: Bool = false) throws -> ([(String, Double, Double, Int)], upkeepDone: Int?) {
        let client = Client(engines: 4)
        defer { client.shutdown() }
        _ = try client.loadBalancedView().submit(builtins: [BuiltinTask](repeating: .noop, count: tasks)).wait()
        let c = DashboardController(source: LocalSource(client: client), size: Frames.size, capabilities: Frames.caps)
        var times: [String: [Double]] = [:]
        var upkeepDone: Int?
        for call in 1...100 {
            c.poll()
            let t0 = SystemTime.monotonicNanoseconds()
            let more = c.idle()  // the app loop's upkeep between frames
            if !more && upkeepDone == nil { upkeepDone = call }
            let ms = Double(SystemTime.monotonicNanoseconds() - t0) / 1e6
            times["upkeep", default: []].append(ms)
            if log { FileHandle.standardError.write("upkeep step \(times["upkeep"]!.count) \(String(format: "%.2f", ms)) ms\n".data(using: .utf8)!) }
        }
        func press(_ kind: String?, _ key: Key) {
            let t0 = SystemTime.monotonicNanoseconds()
            c.handle(key)
            _ = c.frame()
            let ms = Double(SystemTime.monotonicNanoseconds() - t0) / 1e6
            if let kind { times[kind, default: []].append(ms) }
            if log {
                let q = c.state.query
                FileHandle.standardError.write(
                    "\(kind ?? "-") \(key) sort=\(q.sort.rawValue) filter='\(q.filter)' \(String(format: "%.2f", ms)) ms\n"
                        .data(using: .utf8)!)
            }
        }
        for round in 0..<3 {
            for _ in 0..<SortKey.allCases.count {
                press("sort", .char(">"))
                press("flip", .char("o"))
                for _ in 0..<5 { press("scroll", .char("j")) }
                press("scroll", .pageDown)
                press("jump", .char("G"))
                press("jump", .char("g"))
            }
            // A filter typed and erased, a keystroke at a time, under the sort left by the round.
            press(nil, .char("/"))
            for ch in round == 1 ? "noop" : "e1 ok" { press("filter", .char(ch)) }
            for _ in 0..<(round == 1 ? 4 : 5) { press("filter", .backspace) }
            press(nil, .escape)
            press(nil, .char(">"))
        }
        let rows = ["sort", "flip", "filter", "scroll", "jump", "upkeep"].map { k in
            let xs = (times[k] ?? []).sorted()
            // Upkeep: the longest step; keys: p99.
            let p99 = xs.isEmpty ? .nan : k == "upkeep" ? xs[xs.count - 1] : xs[min(xs.count - 1, Int((Double(xs.count) * 0.99).rounded(.up)) - 1)]
            return (k, median(xs), p99, xs.count)
        }
        return (rows, upkeepDone)
    }
}
