import PPTerm
// Hand-built snapshots and a tiny fake source for the dashboard's tests.
import Synchronization
import Testing

@testable import PPDash
import PPKit
import PPSource

/// A fixed clock instant the fixtures measure from.
let t0 = Timestamp(seconds: 1_800_000_000)

/// Fixture builders.
enum Fixture {
    /// N engines: every other one busy, the last one dead when `dead` is set.
    static func engines(_ n: Int, dead: Bool = false) -> [EngineSnapshot] {
        (0..<n).map { i in
            let state: EngineState =
                dead && i == n - 1 ? .dead(reason: "exited with signal 9") : (i % 2 == 0 ? .busy : .idle)
            return EngineSnapshot(
                id: i,
                info: EngineInfo(
                    kind: i % 3 == 2 ? .ssh : .proc, host: i % 3 == 2 ? "node\(i).cluster" : "localhost",
                    pid: Int32(1000 + i), cores: 8),
                state: state, currentTask: state == .busy ? TaskID(100 + i) : nil, queued: 0, done: 10 * i,
                failed: i % 4 == 3 ? 1 : 0,
                utilisation: Double(i % 5) / 4, activity: (0..<12).map { Double(($0 + i) % 9) / 8 })
        }
    }

    /// A status for task `i` of a mixed run.
    static func status(_ i: Int) -> TaskStatus {
        switch i % 10 {
        case 0: .error
        case 1, 2: .running
        case 3: .pending
        case 4: .aborted
        case 5: .timeout
        default: .ok
        }
    }

    static func row(_ i: Int, batch: BatchID = 1, status: TaskStatus? = nil, text: String? = nil) -> TaskRow {
        let s = status ?? Self.status(i)
        let submitted = t0.adding(seconds: Double(i) * 0.1)
        let started: Timestamp? = s == .pending ? nil : submitted.adding(seconds: 0.5)
        let completed: Timestamp? = s.isFinished ? started?.adding(seconds: 2.6) : nil
        return TaskRow(
            id: TaskID(i), batch: batch, seq: i, engine: s == .pending ? nil : i % 4, status: s, submitted: submitted,
            started: started, completed: completed, retries: s == .error ? 1 : 0,
            text: text ?? "sleep 0.1; echo $((\(i)*\(i)))")
    }

    static func counts(
        ok: Int = 0, running: Int = 0, pending: Int = 0, error: Int = 0, aborted: Int = 0, timeout: Int = 0
    ) -> StatusCounts {
        var c = StatusCounts()
        c.ok = ok
        c.running = running
        c.pending = pending
        c.error = error
        c.aborted = aborted
        c.timeout = timeout
        return c
    }

    static func batch(_ id: BatchID, total: Int, ok: Int, failed: Int, running: Int = 2) -> BatchSnapshot {
        let pending = max(0, total - ok - failed - running)
        return BatchSnapshot(
            id: id, label: "sleep 0.1; echo $(({}*{})) ::: 0..\(total - 1)",
            counts: counts(ok: ok, running: min(running, total - ok - failed), pending: pending, error: failed),
            submitted: t0.adding(seconds: Double(id)), finished: ok + failed == total ? t0.adding(seconds: 60) : nil,
            rate: 1.5, eta: ok + failed == total ? nil : 90)
    }

    /// A snapshot with `engines` engines, `batches` batches and a table window of `rows` rows out of `total` (`matching` after the filter).
    static func snapshot(
        engines: Int = 4, batches: Int = 2, rows: Int = 20, offset: Int = 0, total: Int = 250, matching: Int? = nil,
        paused: Bool = false, dead: Bool = false, generation: UInt64 = 1
    ) -> Snapshot {
        let bs = (1...max(1, batches)).map { b in batch(b, total: 100, ok: b == 1 ? 100 : 37, failed: b == 1 ? 0 : 4) }
            .prefix(batches)
        var totals = StatusCounts()
        for b in bs {
            totals.ok += b.counts.ok
            totals.running += b.counts.running
            totals.pending += b.counts.pending
            totals.error += b.counts.error
        }
        let m = matching ?? total
        let window = TableWindow(
            offset: offset, rows: (0..<min(rows, max(0, m - offset))).map { row(offset + $0 + 1) }, matching: m,
            total: total)
        return Snapshot(
            time: t0.adding(seconds: 65), startedAt: t0, generation: generation, paused: paused, totals: totals,
            rate: 0.92,
            engines: Fixture.engines(engines, dead: dead), batches: Array(bs), batchCount: batches, table: window,
            source: "local")
    }

    static func metadata(
        _ id: Int, status: TaskStatus = .ok, stdout: String = "16\n", stderr: String = "", error: String? = nil
    ) -> TaskMetadata {
        TaskMetadata(
            id: TaskID(id), batch: 1, seq: id, engine: 2, engineHost: "localhost", status: status, submitted: t0,
            started: t0.adding(seconds: 0.25), completed: status.isFinished ? t0.adding(seconds: 2.85) : nil,
            received: status.isFinished ? t0.adding(seconds: 2.86) : nil, retries: 0,
            stdout: CapturedOutput(text: stdout), stderr: CapturedOutput(text: stderr), error: error,
            exitStatus: status == .ok ? 0 : (status == .error ? 1 : nil), signal: nil,
            text: "sleep 0.1; echo $((\(id)*\(id)))", args: ["\(id)"], externalId: nil)
    }
}

let color = TermCapabilities(unicode: true, colors: true)
let mono = TermCapabilities(unicode: true, colors: false)
let ascii = TermCapabilities(unicode: false, colors: false)

extension Canvas {
    /// Every cell's style, for colour checks.
    var styles: [Style] {
        var out: [Style] = []
        for r in 0..<rows { for c in 0..<cols { out.append(self[r, c].style) } }
        return out
    }
    /// The whole text, rows joined by newlines.
    var text: String { lines.joined(separator: "\n") }
    /// The first row containing `needle`.
    func row(containing needle: String) -> Int? { lines.firstIndex { $0.contains(needle) } }
}

/// A source that keeps a few tasks in memory and records every command it gets.
final class FakeSource: DashboardSource {
    /// What the fake holds; guarded by `lock`.
    struct Store {
        var tasks: [TaskRow] = []
        var engines: [EngineSnapshot] = Fixture.engines(3)
        var paused = false
        var generation: UInt64 = 1
        var calls: [String] = []
        var queries: [TableQuery] = []
        var nextBatch = 2
        var nextEngine = 3
    }
    let lock = Mutex(Store())

    init(tasks n: Int = 30) {
        lock.withLock { $0.tasks = (1...max(1, n)).map { Fixture.row($0) } }
    }

    var calls: [String] { lock.withLock { $0.calls } }
    var queries: [TableQuery] { lock.withLock { $0.queries } }

    func snapshot(_ q: TableQuery) -> Snapshot {
        lock.withLock { s in
            s.queries.append(q)
            var rows = s.tasks.filter { r in
                q.filter.isEmpty || r.status.description.contains(q.filter.lowercased()) || r.text.contains(q.filter)
                    || (r.engine.map { "e\($0)" == q.filter.lowercased() } ?? false)
            }
            rows.sort { a, b in
                let less: Bool
                switch q.sort {
                case .status:
                    less = a.status.rawValue == b.status.rawValue ? a.id < b.id : a.status.rawValue < b.status.rawValue
                default: less = a.id < b.id
                }
                return q.ascending ? less : !less
            }
            var counts = StatusCounts()
            for r in s.tasks { counts[r.status] += 1 }
            let offset: Int
            if q.follow {
                let last = rows.lastIndex { $0.status == .running } ?? rows.count - 1
                offset = max(0, last + 1 - q.limit)
            } else {
                offset = max(0, min(q.offset, rows.count - q.limit))
            }
            let window = TableWindow(
                offset: offset, rows: Array(rows.dropFirst(offset).prefix(q.limit)), matching: rows.count,
                total: s.tasks.count)
            let batch = BatchSnapshot(
                id: 1, label: "echo {} ::: 1..\(s.tasks.count)", counts: counts, submitted: t0, finished: nil, rate: 2,
                eta: 10)
            return Snapshot(
                time: t0.adding(seconds: 10), startedAt: t0, generation: s.generation, paused: s.paused, totals: counts,
                rate: 2,
                engines: s.engines, batches: [batch], batchCount: 1, table: window, source: "fake")
        }
    }

    func metadata(_ id: TaskID) -> TaskMetadata? {
        lock.withLock { s in
            s.calls.append("metadata \(id)")
            guard let r = s.tasks.first(where: { $0.id == id }) else { return nil }
            return Fixture.metadata(id.rawValue, status: r.status)
        }
    }

    func submit(_ submission: Submission) throws -> BatchID {
        let line = submission.line
        return try lock.withLock { s in
            guard line.contains(":::") else {
                s.calls.append("submit rejected")
                throw PPError(.invalidArgument, "no ::: in \"\(line)\"; write TEMPLATE ::: ARGS")
            }
            s.calls.append("submit \(line)")
            s.generation += 1
            s.nextBatch += 1
            return s.nextBatch - 1
        }
    }

    func abort(task: TaskID) { record("abort task \(task)") }
    func abort(batch: BatchID) { record("abort batch \(batch)") }
    func retry(task: TaskID) throws { record("retry task \(task)") }
    func retryFailed(batch: BatchID) throws -> Int {
        record("retry batch \(batch)")
        return 3
    }
    func setPaused(_ paused: Bool) {
        lock.withLock { s in
            s.calls.append("paused \(paused)")
            s.paused = paused
            s.generation += 1
        }
    }
    func addEngine() throws -> EngineID {
        lock.withLock { s in
            s.calls.append("add engine")
            s.nextEngine += 1
            return s.nextEngine - 1
        }
    }
    func removeEngine(_ id: EngineID?) throws -> EngineID {
        lock.withLock { s in
            s.calls.append("remove engine \(id.map(String.init) ?? "nil")")
            return id ?? 2
        }
    }
    func stopAll() { record("stop all") }

    private func record(_ call: String) {
        lock.withLock { s in
            s.calls.append(call)
            s.generation += 1
        }
    }
}
