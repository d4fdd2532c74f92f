// What a dashboard source reads of the scheduler, each read one short hold of its lock: counters, engines, batches,
// a window of rows in id order, and the task keys that changed since the source last looked.

/// The scheduler as one frame sees it; `rows` holds the positions a reader asked for, in id order.
public struct SchedulerReading: Sendable {
    public var time: Timestamp
    public var startedAt: Timestamp
    /// Grows with every change in the scheduler; equal generations mean equal content.
    public var generation: UInt64
    public var paused: Bool
    public var totals: StatusCounts
    /// Tasks completed per second over the last few seconds.
    public var rate: Double
    /// The engine rows asked for (every engine unless the reader named a window), from position `engineFirst`.
    public var engines: [EngineSnapshot]
    /// Position of `engines[0]` among all engines, engines in all, and how many are in each state.
    public var engineFirst = 0
    public var engineCount = 0
    public var engineCounts = EngineCounts()
    /// The task stream's lanes, aggregated to the rows the reader has, when it asked for them.
    public var lanes: StreamLanes?
    /// The engine the reader named (`alsoEngine`) when it is outside the window.
    public var extraEngine: EngineSnapshot?
    /// The most recent batches, oldest first.
    public var batches: [BatchSnapshot]
    public var batchCount: Int
    /// Tasks in all.
    public var taskCount: Int
    /// The newest task that started (0-based index), while any task runs: what follow mode keeps in view.
    public var newestStarted: Int?
    public var rows: [TaskRow]
}

/// Where a reader of `taskKeys` is: tasks and key changes seen so far.
public struct TaskKeyCursor: Sendable, Hashable {
    var epoch: UInt64 = 0
    var tasks = 0
    var change: UInt64 = 0

    /// Before the first task.
    public init() {}
}

/// Task keys new or changed since a cursor.
public struct TaskKeyChanges: Sendable {
    public var cursor: TaskKeyCursor
    /// The reader must start over: forget every key it holds (first read, or it fell behind the change log).
    public var restart: Bool
    /// Index of the first new task: `newKeys` and `newTexts` hold tasks `first...`.
    public var first: Int
    public var newKeys: [TaskKey]
    public var newTexts: [TaskText]
    /// Tasks below `first` whose keys changed, and their keys now.
    public var changedTasks: [Int32]
    public var changedKeys: [TaskKey]
    /// Nothing more to read now.
    public var caughtUp: Bool
    /// The scheduler's task count at this read: what a reader's copy will hold once caught up (to reserve it once).
    public var total: Int = 0
}

/// Tasks whose keys changed, in order, while a source keeps a copy of the table; positions count from the start.
struct KeyLog {
    var on = false
    /// Starts again each time logging is switched on (readers of an older epoch start over).
    var epoch: UInt64 = 0
    /// Position of `entries[0]`.
    var start: UInt64 = 0
    var entries = [Int32]()
    /// The furthest position a reader has taken: entries before it are dropped when the log is full.
    var readUpTo: UInt64 = 0
    var end: UInt64 { start + UInt64(entries.count) }

    /// Entries kept at most; once full, what readers took goes, and if most is still unread (nobody has read for a
    /// long while: no table open) logging stops rather than grow.
    static let limit = 1_000_000

    mutating func append(_ idx: Int32) {
        entries.append(idx)
        guard entries.count > Self.limit else { return }
        // A reader still behind `readUpTo` starts over (its cursor falls below `start`).
        let taken = Int(min(max(readUpTo, start), end) - start)
        if taken > 0 {
            entries.removeFirst(taken)
            start += UInt64(taken)
        }
        if entries.count > Self.limit / 2 {
            start = end
            entries = []
            on = false
        }
    }
}

extension Scheduler {
    /// Counters, engines, the newest `batchLimit` batches and the rows at the positions `window` picks, in id order
    /// (descending when `ascending` is false), given the task count and the newest started task: O(rows + engines
    /// shown). `engineWindow` names the engine rows wanted (nil: every engine); `streamLanes` > 0 with
    /// `timelineCells` > 0 asks for the task stream aggregated to that many lanes (`SchedulerReading.lanes`), and
    /// then no engine row carries a timeline of its own.
    public func read(
        batchLimit: Int, ascending: Bool = true, timelineCells: Int = 0, engineWindow: EngineWindow? = nil,
        streamLanes: Int = 0, alsoEngine: EngineID? = nil,
        window: (_ taskCount: Int, _ newestStarted: Int?) -> Range<Int> = { _, _ in 0..<0 }
    ) -> SchedulerReading {
        let now = clock.now()
        return state.withLock { s in
            let shown = engineWindow?.range(count: s.engines.count) ?? 0..<s.engines.count
            let cells = streamLanes > 0 ? 0 : timelineCells
            var engines = [EngineSnapshot]()
            engines.reserveCapacity(shown.count)
            for id in shown { engines.append(s.engineRow(id, now: now, timelineCells: cells)) }
            var extra: EngineSnapshot?
            if let e = alsoEngine, s.engines.indices.contains(e), !shown.contains(e) {
                extra = s.engineRow(e, now: now, timelineCells: 0)
            }
            let lanes = streamLanes > 0 && timelineCells > 0
                ? s.streamLanes(now: now, cells: timelineCells, rows: streamLanes) : nil
            let firstBatch = max(0, s.tasks.batchCount - max(0, batchLimit))
            let batches = s.tasks.batches[firstBatch...].map { b -> BatchSnapshot in
                let end = b.isDone ? b.lastReceived : now.microseconds
                let secs = max(1e-3, Double(end - b.submitted) / 1e6)
                let rate = RateMeter.average(b.counts.done, seconds: secs)
                var eta: Double?
                if !b.isDone && b.counts.done > 0 && rate > 0 { eta = b.open ? nil : Double(b.planned - b.counts.done) / rate }
                return BatchSnapshot(
                    id: b.id, label: b.options.label, counts: b.counts, submitted: Timestamp(microseconds: b.submitted),
                    finished: b.isDone && b.planned > 0 ? Timestamp(microseconds: b.lastReceived) : nil, rate: rate, eta: eta,
                    open: b.open)
            }
            let n = s.tasks.count
            // With nothing running, follow mode goes to the table's end rather than park on the last task started.
            let newest = s.totals.running > 0 ? s.newestStarted?.index : nil
            let positions = window(n, newest).clamped(to: 0..<n)
            var rows = [TaskRow]()
            rows.reserveCapacity(positions.count)
            for pos in positions { rows.append(s.row(TaskSlot(ascending ? pos : n - 1 - pos))) }
            var r = SchedulerReading(
                time: now, startedAt: Timestamp(microseconds: s.startedAt), generation: s.generation, paused: s.paused,
                totals: s.totals, rate: s.completions.rate(now: now.microseconds), engines: engines, batches: Array(batches),
                batchCount: s.tasks.batchCount, taskCount: n, newestStarted: newest, rows: rows)
            r.engineFirst = shown.lowerBound
            r.engineCount = s.engines.count
            r.engineCounts = s.engines.counts
            r.lanes = lanes
            r.extraEngine = extra
            return r
        }
    }

    /// Keys of tasks new or changed since `cursor`, at most `limit` of each per call (so the lock is held briefly).
    ///
    /// Call again with the returned cursor until `caughtUp`; changes are logged only while someone reads them.
    public func taskKeys(since cursor: TaskKeyCursor, limit: Int) -> TaskKeyChanges {
        state.withLock { s in
            var c = cursor
            var restart = false
            if !s.keyLog.on {
                s.keyLog.on = true
                s.keyLog.epoch &+= 1
            }
            if c.epoch != s.keyLog.epoch || c.change < s.keyLog.start || c.change > s.keyLog.end {
                c = TaskKeyCursor()
                c.epoch = s.keyLog.epoch
                c.change = s.keyLog.end
                restart = true
            }
            let limit = max(1, limit)
            var changedTasks = [Int32]()
            var changedKeys = [TaskKey]()
            let from = Int(c.change - s.keyLog.start)
            let upto = min(s.keyLog.entries.count, from + limit)
            for i in from..<upto {
                let idx = s.keyLog.entries[i]
                guard Int(idx) < c.tasks else { continue }
                changedTasks.append(idx)
                changedKeys.append(s.key(TaskSlot(Int(idx))))
            }
            c.change += UInt64(upto - from)
            s.keyLog.readUpTo = max(s.keyLog.readUpTo, c.change)
            let first = c.tasks
            let last = min(s.tasks.count, first + limit)
            var newKeys = [TaskKey]()
            var newTexts = [TaskText]()
            newKeys.reserveCapacity(last - first)
            newTexts.reserveCapacity(last - first)
            for idx in first..<last {
                newKeys.append(s.key(TaskSlot(idx)))
                newTexts.append(s.taskText(TaskSlot(idx)))
            }
            c.tasks = last
            return TaskKeyChanges(
                cursor: c, restart: restart, first: first, newKeys: newKeys, newTexts: newTexts,
                changedTasks: changedTasks, changedKeys: changedKeys,
                caughtUp: c.change == s.keyLog.end && c.tasks == s.tasks.count, total: s.tasks.count)
        }
    }

    /// The current generation: equal values mean nothing changed.
    public var generation: UInt64 { state.withLock { $0.generation } }
}

extension Scheduler.State {
    /// Engine `id`'s row as the engines pane shows it.
    func engineRow(_ id: Int, now: Timestamp, timelineCells: Int) -> EngineSnapshot {
        let e = engines[id]
        let state: EngineState
        if let reason = e.deathReason, !e.alive {
            state = .dead(reason: reason)
        } else if e.draining {
            state = .draining
        } else {
            state = e.current != nil ? .busy : .idle
        }
        let life = max(1, now.microseconds - e.created)
        let running = e.current != nil && e.busySince > 0 ? max(0, now.microseconds - e.busySince) : 0
        var row = EngineSnapshot(
            id: id, info: e.info, state: state, currentTask: e.current?.id,
            queued: max(0, e.assigned.count - (e.current == nil ? 0 : 1)) + queues.pinned[id].count, done: e.done,
            failed: e.failed, utilisation: min(1, Double(e.busyTotal + running) / Double(life)),
            activity: e.activity(now: now.microseconds),
            timeline: timelineCells > 0
                ? e.timeline.timeline(
                    now: now.microseconds, count: timelineCells, running: runningSpan(e), created: e.created) : nil,
            job: e.info.kind == .slurm ? e.engine.job : nil)
        row.excluded = e.excluded && e.alive
        return row
    }

    /// The running task's span on an engine, for its timeline.
    private func runningSpan(_ e: EngineSlot) -> (since: Int64, batch: Int)? {
        e.current.map { (since: e.busySince, batch: tasks[batchOf: $0].id) }
    }

    /// A task's run leaving engine `engine`: its ring, and its lane's while a reader shows aggregated lanes.
    mutating func recordRun(_ engine: Int, from start: Int64, to end: Int64, status: TaskStatus, batch: Int) {
        engines[engine].timeline.record(from: start, to: end, status: status, batch: batch)
        laneRings.record(engine: engine, from: start, to: end, status: status, batch: batch)
    }

    /// The task stream in at most `rows` lanes of `cells` cells: the snapshot carries `rows` lanes whatever the
    /// engine count. With more engines than rows the lanes come from `laneRings` (kept as tasks end), plus each
    /// running task's span: O(lanes x cells + engines busy now); else each engine's own ring (O(rows x cells)).
    mutating func streamLanes(now: Timestamp, cells: Int, rows: Int) -> StreamLanes {
        let width = max(0, min(TimelineRing.count, cells))
        let last = now.microseconds / TimelineRing.width
        let n = engines.count
        if n > max(1, rows) {
            laneRings.ensure(engines, rows: rows, now: now.microseconds)
            var running: [(engine: Int, since: Int64, batch: Int)] = []
            // Only busy and draining engines run a task: none, no walk.
            if engines.counts.busy + engines.counts.draining > 0 {
                running.reserveCapacity(engines.counts.busy + engines.counts.draining)
                for id in 0..<n {
                    if let span = runningSpan(engines[id]) { running.append((id, span.since, span.batch)) }
                }
            }
            return StreamLanes(
                grouping: laneRings.grouping, lastCell: last,
                lanes: laneRings.lanes(now: now.microseconds, cells: width, running: running))
        }
        let hosts = [String](repeating: "", count: n)
        let (grouping, lane, laneHosts) = StreamLanes.assign(hosts: hosts, rows: rows)
        let laneCount = grouping == .byHost ? laneHosts.count : (lane.last ?? -1) + 1
        var acc = LaneAccumulator(lanes: laneCount, width: width)
        var firstId = [Int](repeating: -1, count: laneCount)
        var lastId = [Int](repeating: -1, count: laneCount)
        for id in 0..<n {
            let e = engines[id]
            let l = lane[id]
            if firstId[l] < 0 { firstId[l] = id }
            lastId[l] = id
            e.timeline.accumulate(into: &acc, lane: l, now: now.microseconds, running: runningSpan(e), created: e.created)
        }
        let lanes = (0..<laneCount).map { l -> StreamLane in
            let label: String
            switch grouping {
            case .byHost: label = laneHosts[l].isEmpty ? "?" : laneHosts[l]
            default: label = firstId[l] == lastId[l] ? String(firstId[l]) : "\(firstId[l])-\(lastId[l])"
            }
            return StreamLane(label: label, cells: acc.cells(l), absent: acc.absentCells(l))
        }
        return StreamLanes(grouping: grouping, lastCell: last, lanes: lanes)
    }
}
