import PPSystem
import Synchronization
import Testing

@testable import PPKit

/// The task stream's aggregated lanes kept as tasks end (`LaneRings`): checked against a sum the test makes itself
/// from the runs it drove, on a clock it sets.
@Suite("Task stream lanes kept as tasks end")
struct LaneRingsTests {
    /// A clock the test sets.
    final class SetClock: PPClock {
        let t: Mutex<Int64>
        init(_ start: Int64) { t = Mutex(start) }
        func now() -> Timestamp { Timestamp(microseconds: t.withLock { $0 }) }
        func monotonicNanoseconds() -> Int64 { t.withLock { $0 } * 1000 }
        func advance(_ us: Int64) { t.withLock { $0 += us } }
    }

    /// An engine that holds its tasks until the test ends them, starting and ending them at the clock's time.
    final class ClockedEngine: Engine {
        let info: EngineInfo
        let highWaterMark = 1
        var runsClosures: Bool { true }
        let clock: SetClock
        struct S {
            var id = -1
            var sink: (any EngineSink)?
            var queue: [Assignment] = []
        }
        let s = Mutex(S())
        init(host: String, clock: SetClock) {
            info = EngineInfo(kind: .proc, host: host, pid: 1, cores: 1)
            self.clock = clock
        }
        func start(id: EngineID, sink: any EngineSink) { s.withLock { $0.id = id; $0.sink = sink } }
        func run(_ a: Assignment) {
            let (id, sink, first) = s.withLock { st -> (Int, (any EngineSink)?, Bool) in
                st.queue.append(a)
                return (st.id, st.sink, st.queue.count == 1)
            }
            if first { sink?.engineStarted(id, task: a.task, at: clock.now(), processGroup: nil) }
        }
        func cancel(_ task: TaskID, reason: CancelReason) {}
        func shutdown(graceful: Bool) {}
        var holds: Bool { s.withLock { !$0.queue.isEmpty } }
        /// Ends the running task with `status` now (started at `since`), and starts the next one now.
        func finish(_ status: TaskStatus, since: Timestamp) {
            let (id, sink, a, next) = s.withLock { st in (st.id, st.sink, st.queue.removeFirst(), st.queue.first) }
            let now = clock.now()
            // A builtin's ok carries its integer (else the scheduler takes it as a faulty worker's error).
            let value: (any Sendable)? = status == .ok ? 0 : nil
            sink?.engineFinished(
                id, task: a.task, outcome: TaskOutcome(status: status, value: value, started: since, completed: now))
            if let next { sink?.engineStarted(id, task: next.task, at: now, processGroup: nil) }
        }
    }

    struct Run {
        var engine: Int
        var start: Int64
        var end: Int64
        var status: TaskStatus
        var batch: Int
    }

    /// The lanes as the test computes them from the runs (and the tasks running now), as `TimelineRing.record` walks a
    /// run: the cells from its start up to the one before its end's boundary, the outcome in the cell it ended in.
    static func expected(
        runs: [Run], running: [Run], laneOf: [Int], lanes: Int, members: [Int], created: Int64, now: Int64, cells: Int
    ) -> [[TimelineCell]] {
        let w = TimelineRing.width
        let last = now / w
        let first = last - Int64(cells) + 1
        var used = [[Int64]](repeating: [Int64](repeating: 0, count: cells), count: lanes)
        var code = [[UInt8]](repeating: [UInt8](repeating: 0, count: cells), count: lanes)
        var batch = [[Int]](repeating: [Int](repeating: 0, count: cells), count: lanes)
        func add(_ r: Run, isRunning: Bool) {
            let l = laneOf[r.engine]
            var t = r.start
            repeat {
                let b = t / w
                let upto = min(r.end, (b + 1) * w)
                if b >= first && b <= last {
                    let k = Int(b - first)
                    used[l][k] += upto - t
                    let c: TimelineCell.Outcome = isRunning ? .running : (b == r.end / w ? .init(r.status) : .ok)
                    code[l][k] = max(code[l][k], c.rawValue)
                    batch[l][k] = max(batch[l][k], r.batch)
                }
                t = upto
            } while t < r.end
        }
        for r in runs { add(r, isRunning: false) }
        for r in running { add(r, isRunning: true) }
        return (0..<lanes).map { l in
            (0..<cells).map { k in
                let b = first + Int64(k)
                let span = b == last ? max(1, now - b * w) : w
                let n = Int64(members[l])
                let u = used[l][k]
                let eighths = u <= 0 ? 0 : max(1, Int(min(8, (u * 8 + span * n / 2) / (span * n))))
                return TimelineCell(
                    busyEighths: eighths, outcome: TimelineCell.Outcome(rawValue: code[l][k]) ?? .none,
                    batch: batch[l][k])
            }
        }
    }

    /// 40 engines on `hosts(i)`, three batches, random runs on a clock the test moves (one jump past the window);
    /// after every few runs the scheduler's lanes equal the test's sum.
    func check(rows: Int, hosts: (Int) -> String, laneOf: (Int) -> Int, lanes: Int, grouping: LaneGrouping) throws {
        let clock = SetClock(1_800_000_000_000_000 + 300_000)
        let scheduler = Scheduler(clock: clock, seed: 3)
        let client = Client(scheduler: scheduler, engineFactory: { ClockedEngine(host: "x", clock: clock) })
        defer { client.shutdown() }
        let engines = (0..<40).map { ClockedEngine(host: hosts($0), clock: clock) }
        for e in engines { scheduler.addEngine(e) }
        let created = clock.now().microseconds
        var batchOfTask: [TaskID: Int] = [:]
        for _ in 0..<3 {
            let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 200))
            for id in ar.msgIds { batchOfTask[id] = ar.batch }
        }
        let laneOf = (0..<40).map(laneOf)
        var members = [Int](repeating: 0, count: lanes)
        for l in laneOf { members[l] += 1 }
        let cells = 90
        // The first read builds the rings: every later run goes through `record`.
        _ = scheduler.read(batchLimit: 0, timelineCells: cells, streamLanes: rows)
        var rng = SplitMix64(seed: 11)
        var runs: [Run] = []
        var compared = 0
        for step in 0..<600 {
            clock.advance(Int64.random(in: 0...350_000, using: &rng))
            if step == 300 { clock.advance(75_000_000) }  // a pause: the window scrolls past older runs
            let i = Int.random(in: 0..<40, using: &rng)
            guard engines[i].holds else { continue }
            let (since, task) = scheduler.state.withLock { s in (s.engines[i].busySince, s.engines[i].current?.id) }
            let status = [TaskStatus.ok, .ok, .ok, .error, .timeout, .aborted][Int.random(in: 0..<6, using: &rng)]
            engines[i].finish(status, since: Timestamp(microseconds: since))
            if let task { runs.append(Run(engine: i, start: since, end: clock.now().microseconds, status: status, batch: batchOfTask[task] ?? 0)) }
            guard step % 20 == 0 else { continue }
            clock.advance(Int64.random(in: 0...200_000, using: &rng))
            let now = clock.now().microseconds
            let running = scheduler.state.withLock { s in
                (0..<40).compactMap { e -> Run? in
                    guard let t = s.engines[e].current, s.engines[e].busySince > 0 else { return nil }
                    return Run(engine: e, start: s.engines[e].busySince, end: now, status: .running, batch: batchOfTask[t.id] ?? 0)
                }
            }
            let got = try #require(scheduler.read(batchLimit: 0, timelineCells: cells, streamLanes: rows).lanes)
            #expect(got.grouping == grouping)
            let want = Self.expected(
                runs: runs, running: running, laneOf: laneOf, lanes: lanes, members: members, created: created,
                now: now, cells: cells)
            let diff = zip(got.lanes.map(\.cells), want).enumerated().flatMap { l, p in
                zip(p.0, p.1).enumerated().compactMap { k, c in
                    c.0 == c.1 ? nil : "lane \(l) cell \(k): got \(c.0.busyEighths)/\(c.0.outcome)/b\(c.0.batch) want \(c.1.busyEighths)/\(c.1.outcome)/b\(c.1.batch)"
                }
            }
            #expect(diff.isEmpty, "step \(step), now \(now % 1_000_000): \(diff.prefix(6))")
            if got.lanes.map(\.cells) != want { return }
            compared += 1
        }
        #expect(compared >= 20 && runs.count >= 300, "the run covered enough: \(compared) reads, \(runs.count) runs")
        #expect(runs.contains { $0.status == .error } && runs.contains { $0.status == .aborted })
        // Built again from the engines' own rings, at the same instant: the same lanes as kept run by run.
        let kept = scheduler.read(batchLimit: 0, timelineCells: cells, streamLanes: rows).lanes
        scheduler.state.withLock { $0.laneRings = LaneRings() }
        let rebuilt = scheduler.read(batchLimit: 0, timelineCells: cells, streamLanes: rows).lanes
        #expect(kept == rebuilt)
        #expect(kept?.lanes.count == lanes)
    }

    @Test("k engines a lane: the lanes equal the runs summed, through random runs, outcomes, batches and a pause")
    func everyK() throws {
        try check(rows: 4, hosts: { _ in "testhost" }, laneOf: { $0 / 10 }, lanes: 4, grouping: .every(10))
    }

    @Test("a lane per host: the lanes equal the runs summed")
    func byHost() throws {
        try check(rows: 4, hosts: { $0 < 25 ? "a" : "b" }, laneOf: { $0 < 25 ? 0 : 1 }, lanes: 2, grouping: .byHost)
    }

    @Test("rings nobody reads are dropped after 30 s; an engine added or other rows build them again")
    func dropAndRebuild() throws {
        let clock = SetClock(1_800_000_000_000_000)
        let scheduler = Scheduler(clock: clock, seed: 3)
        let client = Client(scheduler: scheduler, engineFactory: { ClockedEngine(host: "x", clock: clock) })
        defer { client.shutdown() }
        let engines = (0..<12).map { _ in ClockedEngine(host: "h", clock: clock) }
        for e in engines { scheduler.addEngine(e) }
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 100))
        func built() -> (engines: Int, rows: Int)? { scheduler.state.withLock { $0.laneRings.built } }
        #expect(built() == nil, "off until a reader asks for aggregated lanes")
        _ = scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 12)
        #expect(built() == nil, "engines fit the rows: each engine's own ring, no lane rings")
        let first = scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 3)
        #expect(built()! == (12, 3))
        #expect(first.lanes?.lanes.map(\.label) == ["0-3", "4-7", "8-11"])
        func finishOne(_ i: Int) {
            let since = scheduler.state.withLock { $0.engines[i].busySince }
            engines[i].finish(.ok, since: Timestamp(microseconds: since))
        }
        clock.advance(500_000)
        finishOne(0)
        #expect(built() != nil)
        clock.advance(31_000_000)
        finishOne(1)
        #expect(built() == nil, "no read for 31 s: dropped at the next run")
        let again = scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 3)
        #expect(built()! == (12, 3))
        // Rebuilt from the engines' own rings (the run recorded while they were off included): the same lanes as a
        // build from nothing at this instant.
        scheduler.state.withLock { $0.laneRings = LaneRings() }
        #expect(scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 3).lanes == again.lanes)
        #expect((again.lanes?.lanes[0].cells.last?.busyEighths ?? 0) > 0)
        _ = scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 2)
        #expect(built()! == (12, 2))
        scheduler.addEngine(ClockedEngine(host: "h", clock: clock))
        let more = scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 2)
        #expect(built()! == (13, 2))
        #expect(more.lanes?.lanes.map(\.label) == ["0-6", "7-12"])
    }
}
