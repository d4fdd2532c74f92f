import PPKit
import Synchronization

/// The dashboard's view of an in-process client: snapshots from its scheduler, commands through its public API.
///
/// The default view (by id, no filter) reads its rows straight from the scheduler: O(rows) under its lock, whatever
/// the task count. Another order or a filter works on a copy of the tasks' keys kept here, brought up to date under
/// the lock with only the tasks that are new or changed (in chunks of `keyChunk`), then sorted and filtered outside
/// it: a `/` keystroke on a million tasks never holds the engines. The copy catches up a chunk per `idle()` (the app
/// loop's wait between frames), never inside a frame, so the first sort or filter finds it ready.
public final class LocalSource: DashboardSource {
    public let client: Client
    /// Flags for batches typed at the prompt (retries, run-time limit ...).
    public let flags: ViewFlags

    /// Most task keys copied per hold of the scheduler's lock.
    public static let keyChunk = 16_384

    private let table = Mutex(SchedulerTable())
    /// Reads the running tasks' process trees and the host from /proc, at most once a second.
    private let meterSampler = MeterSampler()
    private let cost = Atomic<Int>(0)
    private let lockedCost = Atomic<Int>(0)
    private let idleCost = Atomic<Int>(0)

    public init(client: Client, flags: ViewFlags = ViewFlags()) {
        self.client = client
        self.flags = flags
    }

    /// Rows the last snapshot examined, under the scheduler's lock or not: the work a frame costs.
    public var lastSnapshotCost: Int { cost.load(ordering: .relaxed) }
    /// Rows and task keys the last snapshot read under the scheduler's lock, while engines may wait on it.
    public var lastLockedCost: Int { lockedCost.load(ordering: .relaxed) }

    public func snapshot(_ query: TableQuery) -> Snapshot {
        let (snap, examined, locked): (Snapshot, Int, Int)
        if query.isDirect {
            (snap, examined, locked) = SchedulerTable.direct(client.scheduler, query)
            cost.store(examined, ordering: .relaxed)
            lockedCost.store(locked, ordering: .relaxed)
            return withMeters(snap)
        }
        (snap, examined, locked) = table.withLock { $0.snapshot(client.scheduler, query) }
        cost.store(examined, ordering: .relaxed)
        lockedCost.store(locked, ordering: .relaxed)
        return withMeters(snap)
    }

    /// Task keys the last `idle()` copied under the scheduler's lock (at most `keyChunk`).
    public var lastIdleCost: Int { idleCost.load(ordering: .relaxed) }

    /// One step of upkeep between frames, so the first sort or filter finds everything ready: a chunk of the key
    /// copy brought up to date (at most `keyChunk` keys under the scheduler's lock, as many texts made outside it);
    /// once that has caught up, a step of building a sort key's unfiltered order or bringing one up to date (at most
    /// `TableIndexCache.stepRows` rows: `TableIndexCache.prepare`, outside the scheduler's lock). True while more is
    /// left.
    public func idle() -> Bool {
        let (copied, more) = table.withLock { t in
            let (copied, more) = t.warm(client.scheduler, budget: Self.keyChunk)
            if more { return (copied, true) }
            var examined = 0
            return (copied, t.indexes.prepare(t.columns, cost: &examined))
        }
        idleCost.store(copied, ordering: .relaxed)
        return more
    }

    /// `snap` with each engine's meters (its running task's tree, its host), whichever path made it.
    private func withMeters(_ snap: Snapshot) -> Snapshot {
        var out = snap
        let rows = out.engines + (out.extraEngine.map { [$0] } ?? [])
        if !rows.isEmpty {
            let meters = client.scheduler.engineMeters(rows, sampler: meterSampler)
            for i in out.engines.indices { out.engines[i].meters = meters[out.engines[i].id] }
            if let e = out.extraEngine { out.extraEngine?.meters = meters[e.id] }
        }
        return out
    }

    /// A task's record; output that left memory (printed and spooled) is read back from its spool file for the view.
    public func metadata(_ id: TaskID) -> TaskMetadata? {
        guard var m = client.scheduler.metadata(id) else { return nil }
        if let o = m.stdout.readBack() { m.stdout = o }
        if let e = m.stderr.readBack() { m.stderr = e }
        return m
    }

    public func submit(_ submission: Submission) throws -> BatchID {
        var view = client.loadBalancedView()
        view.flags = flags
        return try view.submit(submission.sweep()).batch
    }

    public func abort(task: TaskID) { client.scheduler.abort(task: task) }
    public func abort(batch: BatchID) { client.scheduler.abort(batch: batch) }
    public func retry(task: TaskID) throws { try client.scheduler.retry(task: task) }
    public func retryFailed(batch: BatchID) throws -> Int { try client.scheduler.retryFailed(batch: batch) }
    public func setPaused(_ paused: Bool) { client.scheduler.isPaused = paused }
    public func addEngine() throws -> EngineID { try client.addEngine() }

    public func removeEngine(_ id: EngineID?) throws -> EngineID {
        let alive = client.scheduler.read(batchLimit: 0).engines.filter { $0.state == .idle || $0.state == .busy }
        guard let target = id ?? (alive.last { $0.state == .idle } ?? alive.last)?.id else {
            throw PPError(.noEngine, "no engine to remove")
        }
        try client.removeEngine(target)
        return target
    }

    public func stopAll() { client.shutdown() }
    public func failures() -> [FailureRecord]? { client.scheduler.failureRecords() }
    public func setExcluded(engine: EngineID, _ excluded: Bool) throws { try client.scheduler.setExcluded(engine, excluded) }
}

/// The table query over a scheduler: the default view straight from it, any other from a copy of its task keys.
struct SchedulerTable: Sendable {
    var columns = KeyColumns()
    var cursor = TaskKeyCursor()
    /// The indexes of the last few orders and filters, kept up to date with the changed tasks.
    var indexes = TableIndexCache()

    /// By id, no filter: the window's rows read under the lock, O(rows). Returns rows examined and read locked.
    static func direct(_ scheduler: Scheduler, _ q: TableQuery) -> (Snapshot, Int, Int) {
        let r = scheduler.read(
            batchLimit: q.batchLimit, ascending: q.ascending, timelineCells: q.timelineCells ?? 0,
            engineWindow: q.engineWindow, streamLanes: q.streamLanes ?? 0, alsoEngine: q.alsoEngine
        ) { n, newest in
            let offset = q.windowOffset(matching: n, anchorPosition: newest)
            return offset..<min(n, offset + max(0, q.limit))
        }
        let offset = q.windowOffset(matching: r.taskCount, anchorPosition: r.newestStarted)
        let table = TableWindow(offset: offset, rows: r.rows, matching: r.taskCount, total: r.taskCount)
        return (Snapshot(r, table: table), r.rows.count, r.rows.count)
    }

    /// One short hold of the lock: at most `budget` new or changed keys copied, and as many texts made outside it
    /// (a shell task's text costs a few hundred ns: a few ms a call). Returns the keys read, and whether keys or
    /// texts are still to be made.
    mutating func warm(_ scheduler: Scheduler, budget: Int) -> (copied: Int, more: Bool) {
        let c = scheduler.taskKeys(since: cursor, limit: budget)
        take(c)
        columns.makeTexts(upto: columns.texts.count + budget)
        return (c.newKeys.count + c.changedKeys.count, !c.caughtUp || columns.texts.count < columns.parts.count)
    }

    private mutating func take(_ c: TaskKeyChanges) {
        var changed: [Int32]? = []
        columns.apply(c, changed: &changed)
        indexes.note(changed)
        cursor = c.cursor
    }

    /// Another order or a filter: the keys brought up to date in short holds of the lock, then the one table query
    /// outside it. Returns rows examined and task keys read locked.
    mutating func snapshot(_ scheduler: Scheduler, _ q: TableQuery) -> (Snapshot, Int, Int) {
        var locked = 0
        var done = false
        while !done {
            let c = scheduler.taskKeys(since: cursor, limit: LocalSource.keyChunk)
            locked += c.newKeys.count + c.changedKeys.count
            take(c)
            done = c.caughtUp
        }
        // Texts are made once, when a query first reads them (a search, the sort by text).
        if q.sort == .text || TaskFilter(q.filter).search != nil { columns.makeTexts(upto: columns.taskCount) }
        let r = scheduler.read(
            batchLimit: q.batchLimit, timelineCells: q.timelineCells ?? 0, engineWindow: q.engineWindow,
            streamLanes: q.streamLanes ?? 0, alsoEngine: q.alsoEngine)
        var examined = locked
        let window = indexes.window(columns, q, anchor: r.newestStarted, cost: &examined)
        return (Snapshot(r, table: window), examined, locked)
    }
}

/// The scheduler's task keys and texts, copied: what the table query sorts and filters outside the lock.
struct KeyColumns: TaskColumns, Sendable {
    var keys: [TaskKey] = []
    /// What each task's text is made of (copied under the lock: a retain).
    var parts: [TaskText] = []
    /// The texts made so far, tasks `0..<texts.count` (a task's text never changes).
    var texts: [String] = []
    /// The same texts' UTF-8 bytes, ASCII letters folded to lower case, each followed by a 0 byte: what a `/`
    /// search scans (`FoldedTexts`).
    var folded = FoldedTexts()

    var taskCount: Int { keys.count }
    func key(_ i: Int) -> TaskKey { keys[i] }
    func text(_ i: Int) -> String { i < texts.count ? texts[i] : parts[i].text }
    func externalId(_ i: Int) -> String? { nil }
    func row(_ i: Int) -> TaskRow { TaskRow(index: i, key: keys[i], text: text(i)) }
    func searchMatches(_ needle: String) -> [Bool]? {
        folded.count == taskCount ? folded.matches(needle) : nil
    }

    /// Makes the texts of tasks up to `n` (outside the lock).
    mutating func makeTexts(upto n: Int) {
        let end = min(n, parts.count)
        guard texts.count < end else { return }
        // No reserveCapacity(end) here: called a chunk at a time, it would copy every text made so far each call.
        // The folded bytes are reserved once for all tasks, by the mean length of the texts made so far.
        folded.reserve(texts: keys.capacity)
        for i in texts.count..<end {
            let t = parts[i].text
            texts.append(t)
            folded.append(t)
        }
    }

    /// Room for `total` tasks, reserved at once (the scheduler's count) rather than found by doubling: a doubling
    /// at 524,288 tasks copied ~40 MB inside one upkeep step. Past it, the room at least doubles (never an exact
    /// reserve per chunk, which would copy every key each time).
    mutating func reserve(_ total: Int) {
        guard total > keys.capacity else { return }
        let room = max(total, 2 * keys.capacity)
        keys.reserveCapacity(room)
        parts.reserveCapacity(room)
        texts.reserveCapacity(room)
    }

    /// Takes in one read of `Scheduler.taskKeys`, noting the changed tasks (nil when everything starts over).
    mutating func apply(_ c: TaskKeyChanges, changed: inout [Int32]?) {
        if c.restart {
            keys.removeAll(keepingCapacity: true)
            parts.removeAll(keepingCapacity: true)
            texts.removeAll(keepingCapacity: true)
            folded = FoldedTexts()
            changed = nil
        }
        if c.first == keys.count {
            reserve(c.total)
            keys.append(contentsOf: c.newKeys)
            parts.append(contentsOf: c.newTexts)
        }
        for (i, idx) in c.changedTasks.enumerated() where Int(idx) < keys.count {
            keys[Int(idx)] = c.changedKeys[i]
            changed?.append(idx)
        }
    }
}

extension Snapshot {
    /// A frame from a scheduler reading and a table window.
    init(_ r: SchedulerReading, table: TableWindow, source: String = "") {
        self.init(
            time: r.time, startedAt: r.startedAt, generation: r.generation, paused: r.paused, totals: r.totals,
            rate: r.rate, engines: r.engines, batches: r.batches, batchCount: r.batchCount, table: table, source: source)
        engineFirst = r.engineFirst
        engineTotal = r.engineCount
        engineTally = r.engineCounts
        lanes = r.lanes
        extraEngine = r.extraEngine
    }
}

extension Scheduler {
    /// A one-off snapshot (engines, counters, a window of the table) for readers that keep no source: the default
    /// view costs its rows; another order or a filter reads every task's keys once. A dashboard uses a `LocalSource`,
    /// which keeps its table up to date between frames.
    public func snapshot(_ query: TableQuery = TableQuery()) -> Snapshot {
        if query.isDirect { return SchedulerTable.direct(self, query).0 }
        var table = SchedulerTable()
        return table.snapshot(self, query).0
    }
}
