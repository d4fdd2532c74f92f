/// Everything a reader (dashboard, CLI, journal, socket) needs for one frame: plain values, cheap to take.
///
/// A snapshot never copies every task: it holds counters, the engines, the recent batches and one
/// window of the task table, so taking one costs the same for a hundred tasks or a million.
public struct Snapshot: Sendable, Hashable, Codable {
    /// When the snapshot was taken.
    public var time: Timestamp
    /// When the scheduler started (for the header's elapsed time).
    public var startedAt: Timestamp
    /// Grows with every change in the scheduler; equal generations mean equal content.
    public var generation: UInt64
    /// Dispatch is paused (`p`).
    public var paused: Bool
    /// Counters over every task.
    public var totals: StatusCounts
    /// Tasks completed per second over the last few seconds.
    public var rate: Double
    public var engines: [EngineSnapshot]
    /// The most recent batches, oldest first (at most `TableQuery.batchLimit`).
    public var batches: [BatchSnapshot]
    /// How many batches exist in all.
    public var batchCount: Int
    /// The requested window of the task table.
    public var table: TableWindow
    /// Where the data comes from, e.g. "local" or "ipp tcp://127.0.0.1:5555"; empty for in-process.
    public var source: String

    public init(
        time: Timestamp, startedAt: Timestamp, generation: UInt64, paused: Bool, totals: StatusCounts, rate: Double,
        engines: [EngineSnapshot], batches: [BatchSnapshot], batchCount: Int, table: TableWindow, source: String = ""
    ) {
        self.time = time
        self.startedAt = startedAt
        self.generation = generation
        self.paused = paused
        self.totals = totals
        self.rate = rate
        self.engines = engines
        self.batches = batches
        self.batchCount = batchCount
        self.table = table
        self.source = source
    }

    /// Engines alive and busy / alive in all.
    public var busyEngines: Int { engines.filter { $0.state == .busy }.count }
    public var aliveEngines: Int { engines.filter { $0.state.isAlive }.count }
}

/// One engine's row in the engines pane.
public struct EngineSnapshot: Sendable, Hashable, Codable {
    public var id: EngineID
    public var info: EngineInfo
    public var state: EngineState
    /// The task it runs now, if any.
    public var currentTask: TaskID?
    /// Tasks assigned to it and not yet started (the high-water mark bounds this).
    public var queued: Int
    public var done: Int
    public var failed: Int
    /// Busy fraction over its lifetime, 0...1.
    public var utilisation: Double
    /// Busy fraction per 5-second bucket over the last minute, oldest first (12 values, 0...1).
    public var activity: [Double]

    public init(
        id: EngineID, info: EngineInfo, state: EngineState, currentTask: TaskID?, queued: Int, done: Int, failed: Int,
        utilisation: Double, activity: [Double]
    ) {
        self.id = id
        self.info = info
        self.state = state
        self.currentTask = currentTask
        self.queued = queued
        self.done = done
        self.failed = failed
        self.utilisation = utilisation
        self.activity = activity
    }
}

/// One batch (one AsyncResult) for the progress widget.
public struct BatchSnapshot: Sendable, Hashable, Codable {
    public var id: BatchID
    /// A label: the template for shell sweeps, the function's name for closures.
    public var label: String
    public var counts: StatusCounts
    public var submitted: Timestamp
    /// The last completion, once every task is done.
    public var finished: Timestamp?
    /// Completions per second since submission.
    public var rate: Double
    /// Estimated seconds to finish, when it can be guessed.
    public var eta: Double?

    public init(
        id: BatchID, label: String, counts: StatusCounts, submitted: Timestamp, finished: Timestamp?, rate: Double,
        eta: Double?
    ) {
        self.id = id
        self.label = label
        self.counts = counts
        self.submitted = submitted
        self.finished = finished
        self.rate = rate
        self.eta = eta
    }
    /// ipyparallel's `progress`: tasks finished, whatever their outcome.
    public var progress: Int { counts.done }
    public var total: Int { counts.total }
    public var isDone: Bool { counts.done == counts.total }
}

/// One row of the task table.
public struct TaskRow: Sendable, Hashable, Codable {
    public var id: TaskID
    public var batch: BatchID
    public var seq: Int
    public var engine: EngineID?
    public var status: TaskStatus
    public var submitted: Timestamp
    public var started: Timestamp?
    public var completed: Timestamp?
    public var retries: Int
    /// The command or the call, for display.
    public var text: String
    /// ipyparallel's msg_id where the source has one; else the id.
    public var msgId: String

    public init(
        id: TaskID, batch: BatchID, seq: Int, engine: EngineID?, status: TaskStatus, submitted: Timestamp,
        started: Timestamp?, completed: Timestamp?, retries: Int, text: String, msgId: String? = nil
    ) {
        self.id = id
        self.batch = batch
        self.seq = seq
        self.engine = engine
        self.status = status
        self.submitted = submitted
        self.started = started
        self.completed = completed
        self.retries = retries
        self.text = text
        self.msgId = msgId ?? id.description
    }
    public var duration: Double? {
        guard let s = started else { return nil }
        guard let c = completed else { return nil }
        return s.seconds(to: c)
    }
}

/// The column a task table is sorted by.
public enum SortKey: String, Sendable, Hashable, Codable, CaseIterable {
    case id, batch, engine, status, submitted, started, completed, duration, retries, text
}

/// Which window of the task table a reader wants.
public struct TableQuery: Sendable, Hashable, Codable {
    public var sort: SortKey
    public var ascending: Bool
    /// Case-insensitive text matched against status, engine (`e3` or `3`), batch and text; empty matches all.
    public var filter: String
    /// First row of the window (clamped).
    public var offset: Int
    /// Rows wanted.
    public var limit: Int
    /// Follow mode: the window ends at the newest started task, ignoring `offset`.
    public var follow: Bool
    /// How many recent batches to include.
    public var batchLimit: Int

    public init(
        sort: SortKey = .id, ascending: Bool = true, filter: String = "", offset: Int = 0, limit: Int = 50,
        follow: Bool = false, batchLimit: Int = 8
    ) {
        self.sort = sort
        self.ascending = ascending
        self.filter = filter
        self.offset = offset
        self.limit = limit
        self.follow = follow
        self.batchLimit = batchLimit
    }
}

/// A window of the (sorted, filtered) task table.
public struct TableWindow: Sendable, Hashable, Codable {
    /// Index of `rows[0]` in the sorted, filtered table.
    public var offset: Int
    public var rows: [TaskRow]
    /// Rows matching the filter.
    public var matching: Int
    /// Tasks in all.
    public var total: Int
    public init(offset: Int, rows: [TaskRow], matching: Int, total: Int) {
        self.offset = offset
        self.rows = rows
        self.matching = matching
        self.total = total
    }
    public static let empty = TableWindow(offset: 0, rows: [], matching: 0, total: 0)
}

/// A source of snapshots and a sink of commands: the in-process scheduler, and later a socket or an ipyparallel hub.
///
/// The dashboard draws whatever implements this, never learning which kind it is.
public protocol DashboardSource: AnyObject, Sendable {
    /// A snapshot with the given table window.
    func snapshot(_ query: TableQuery) -> Snapshot
    /// The whole record of one task, for the detail view.
    func metadata(_ id: TaskID) -> TaskMetadata?
    /// Submits a shell sweep typed at the prompt (`TEMPLATE ::: ARGS`); returns the new batch or throws a readable error.
    func submit(line: String) throws -> BatchID
    func abort(task: TaskID)
    func abort(batch: BatchID)
    func retry(task: TaskID) throws
    func retryFailed(batch: BatchID) throws -> Int
    func setPaused(_ paused: Bool)
    /// Adds one engine of the default kind; returns its id.
    func addEngine() throws -> EngineID
    /// Removes an engine (the highest-numbered idle one when nil).
    func removeEngine(_ id: EngineID?) throws -> EngineID
    /// Stops everything: pending tasks aborted, running ones signalled.
    func stopAll()
}
