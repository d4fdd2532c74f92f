// What the scheduler shows of its engines, batches and tasks: plain values a dashboard source reads.

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
    /// Its last seconds for the task stream, when the reader asked for them (`TableQuery.timelineCells`).
    public var timeline: EngineTimeline?
    /// Its running task's CPU and memory and its host's load, where the source reads them (nil: not known).
    public var meters: EngineMeters? = nil
    /// Excluded from new work by the user (`Scheduler.setExcluded`).
    public var excluded = false
    /// The batch-system job it runs in (Slurm engines), as last seen in the queue.
    public var job: EngineJob?

    public init(
        id: EngineID, info: EngineInfo, state: EngineState, currentTask: TaskID?, queued: Int, done: Int, failed: Int,
        utilisation: Double, activity: [Double], timeline: EngineTimeline? = nil, job: EngineJob? = nil
    ) {
        self.timeline = timeline
        self.job = job
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
    /// Its input (stdin) is still being read: more tasks may come, its count is not known yet.
    public var open = false

    public init(
        id: BatchID, label: String, counts: StatusCounts, submitted: Timestamp, finished: Timestamp?, rate: Double,
        eta: Double?, open: Bool = false
    ) {
        self.open = open
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
    public var isDone: Bool { !open && counts.done == counts.total }

    private enum CodingKeys: String, CodingKey { case id, label, counts, submitted, finished, rate, eta, open }

    /// `open` may be missing (a peer from before streamed input): not open.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(BatchID.self, forKey: .id), label: try c.decode(String.self, forKey: .label),
            counts: try c.decode(StatusCounts.self, forKey: .counts), submitted: try c.decode(Timestamp.self, forKey: .submitted),
            finished: try c.decodeIfPresent(Timestamp.self, forKey: .finished), rate: try c.decode(Double.self, forKey: .rate),
            eta: try c.decodeIfPresent(Double.self, forKey: .eta), open: try c.decodeIfPresent(Bool.self, forKey: .open) ?? false)
    }
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
    /// A row from a task's keys (index 0-based): the one conversion from the stored columns.
    public init(index: Int, key k: TaskKey, text: String, msgId: String? = nil) {
        func ts(_ v: Int64) -> Timestamp? { v > 0 ? Timestamp(microseconds: v) : nil }
        self.init(
            id: TaskID(index + 1), batch: Int(k.batch), seq: Int(k.seq), engine: k.engine >= 0 ? Int(k.engine) : nil,
            status: k.status, submitted: Timestamp(microseconds: k.submitted), started: ts(k.started),
            completed: ts(k.completed), retries: Int(k.retries), text: text, msgId: msgId)
    }

    public var duration: Double? {
        guard let s = started else { return nil }
        guard let c = completed else { return nil }
        return s.seconds(to: c)
    }

    /// The columns a table sorts and filters by.
    public var key: TaskKey {
        TaskKey(
            batch: Int32(truncatingIfNeeded: batch), seq: Int32(truncatingIfNeeded: seq),
            engine: engine.map { Int32(truncatingIfNeeded: $0) } ?? -1, status: status,
            retries: UInt16(clamping: retries), submitted: submitted.microseconds, started: started?.microseconds ?? 0,
            completed: completed?.microseconds ?? 0)
    }
}

/// One task's sortable, filterable columns as plain numbers (no allocation): what a source copies under the lock.
public struct TaskKey: Sendable, Hashable {
    public var batch: Int32
    public var seq: Int32
    /// The engine, or -1.
    public var engine: Int32
    public var status: TaskStatus
    public var retries: UInt16
    /// Microseconds since the epoch; 0 for not yet.
    public var submitted: Int64
    public var started: Int64
    public var completed: Int64

    public init(
        batch: Int32, seq: Int32, engine: Int32, status: TaskStatus, retries: UInt16, submitted: Int64, started: Int64,
        completed: Int64
    ) {
        self.batch = batch
        self.seq = seq
        self.engine = engine
        self.status = status
        self.retries = retries
        self.submitted = submitted
        self.started = started
        self.completed = completed
    }

    /// Run time in microseconds, or -1 while unknown.
    public var duration: Int64 { completed > 0 && started > 0 ? completed - started : -1 }
}

/// What a task's display text is made of: copied under the scheduler's lock (a retain), rendered outside it.
public struct TaskText: Sendable {
    let work: TaskWork
    let label: String
    let seq: Int

    /// The command or the call, for display.
    public var text: String {
        switch work {
        case .shell(let t): return t.displayCommand
        case .builtin(.noop): return "noop"
        case .builtin(.sleepSquare(let x, let s)): return "sleep \(formatSeconds(s)); \(x)*\(x)"
        case .blocking, .async: return "\(label)[\(seq - 1)]"
        }
    }
}

