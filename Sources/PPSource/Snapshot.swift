import PPKit

/// Everything a dashboard needs for one frame: plain values, cheap to take.
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
    /// The requested window of the task table (sorted, filtered, windowed by `TableIndex`, the one table query).
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

/// The column a task table is sorted by.
public enum SortKey: String, Sendable, Hashable, Codable, CaseIterable {
    case id, batch, engine, status, submitted, started, completed, duration, retries, text
}

/// Which window of the task table a reader wants.
public struct TableQuery: Sendable, Hashable, Codable {
    public var sort: SortKey
    public var ascending: Bool
    /// The `/` filter (see `TaskFilter` for its language); empty matches all.
    public var filter: String
    /// First row of the window (clamped).
    public var offset: Int
    /// Rows wanted.
    public var limit: Int
    /// Follow mode: the window ends at the newest started task, ignoring `offset`.
    public var follow: Bool
    /// How many recent batches to include.
    public var batchLimit: Int
    /// One-second task-stream cells wanted per engine (`EngineSnapshot.timeline`); nil or 0: none.
    public var timelineCells: Int?

    public init(
        sort: SortKey = .id, ascending: Bool = true, filter: String = "", offset: Int = 0, limit: Int = 50,
        follow: Bool = false, batchLimit: Int = 8, timelineCells: Int? = nil
    ) {
        self.timelineCells = timelineCells
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
