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
    /// The engine rows: every engine, or the window the query named (`TableQuery.engines`), from `engineFirst`.
    public var engines: [EngineSnapshot]
    /// Position of `engines[0]` among all engines.
    public var engineFirst = 0
    /// Engines in all, and per state, when `engines` is a window (nil: `engines` holds them all; counted from it).
    public var engineTotal: Int?
    public var engineTally: EngineCounts?
    /// The task stream aggregated to the pane's rows, when the source makes it (else lanes come from each engine
    /// row's own timeline).
    public var lanes: StreamLanes?
    /// The engine the query named (`TableQuery.alsoEngine`: the detail view's task's), when outside the window.
    public var extraEngine: EngineSnapshot?
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

    /// Engines in all.
    public var engineCount: Int { engineTotal ?? engines.count }
    /// How many engines are in each state (kept by the source, or counted from the rows when they are all here).
    public var engineCounts: EngineCounts { engineTally ?? EngineCounts(engines) }
    /// Engines alive and busy / alive in all (queued batch jobs included, as alive).
    public var busyEngines: Int { engineCounts.busy }
    public var aliveEngines: Int { engineCounts.alive }

    /// The engine at `position` (0-based among all engines), when the snapshot carries its row.
    public func engine(at position: Int) -> EngineSnapshot? {
        let i = position - engineFirst
        return engines.indices.contains(i) ? engines[i] : nil
    }

    /// The row of engine `id`, when the snapshot carries it (in the window, or as the extra engine).
    public func engine(id: EngineID) -> EngineSnapshot? {
        if let e = engine(at: id), e.id == id { return e }
        if let e = extraEngine, e.id == id { return e }
        return engines.first { $0.id == id }
    }

    /// This snapshot cut to the query's engine window and aggregated lanes, for sources that hold every engine row
    /// anyway (a journal, an ipyparallel mirror): the dashboard then sees one shape whatever the source.
    public func windowed(_ query: TableQuery) -> Snapshot {
        guard engineTotal == nil, let w = query.engineWindow else { return self }
        var s = self
        let counts = EngineCounts(engines)
        let range = w.range(count: engines.count)
        if let e = query.alsoEngine, !range.contains(e), engines.indices.contains(e), engines[e].id == e {
            s.extraEngine = engines[e]
        }
        s.engines = Array(engines[range])
        s.engineFirst = range.lowerBound
        s.engineTotal = engines.count
        s.engineTally = counts
        return s
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
    /// The engine rows wanted (nil: every engine, as readers that are no dashboard want).
    public var engineOffset: Int?
    public var engineLimit: Int?
    /// Task-stream lanes the pane has rows for: the source aggregates the engines' timelines to at most this many
    /// lanes (`Snapshot.lanes`); nil: a timeline per engine row.
    public var streamLanes: Int?
    /// An engine whose row is wanted even outside the window (the detail view's running task's, for its meters).
    public var alsoEngine: EngineID?

    /// The engine window, when the query names one.
    public var engineWindow: EngineWindow? {
        engineLimit.map { EngineWindow(offset: engineOffset ?? 0, limit: $0) }
    }

    public init(
        sort: SortKey = .id, ascending: Bool = true, filter: String = "", offset: Int = 0, limit: Int = 50,
        follow: Bool = false, batchLimit: Int = 8, timelineCells: Int? = nil, engineOffset: Int? = nil,
        engineLimit: Int? = nil, streamLanes: Int? = nil, alsoEngine: EngineID? = nil
    ) {
        self.timelineCells = timelineCells
        self.engineOffset = engineOffset
        self.engineLimit = engineLimit
        self.streamLanes = streamLanes
        self.alsoEngine = alsoEngine
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
