import PPSystem

/// A task's place in the store. The one place a `TaskID` (1-based) and an array index (0-based) meet.
struct TaskSlot: Hashable, Comparable, Sendable {
    /// The index into the store's per-task arrays.
    let index: Int
    @inline(__always) init(_ index: Int) { self.index = index }
    @inline(__always) init(_ id: TaskID) { index = id.rawValue - 1 }
    @inline(__always) var id: TaskID { TaskID(index + 1) }
    static func < (a: TaskSlot, b: TaskSlot) -> Bool { a.index < b.index }
}

/// A batch's place in the store: the one place a `BatchID` (1-based) and an index meet.
struct BatchSlot: Hashable, Sendable {
    let index: Int
    @inline(__always) init(_ id: BatchID) { index = id - 1 }
    init(index: Int) { self.index = index }
    @inline(__always) var id: BatchID { index + 1 }
}

/// One task's stored record: plain values in a contiguous array, no allocation per task. The unset times, engine
/// and process group are stored as compact sentinels (0 or -1) that only this type sees; readers get optionals.
struct TaskRecord {
    /// The batch id (1-based), as shown.
    let batch: Int32
    var seq: Int32
    private var engineRaw: Int32 = -1
    var status: TaskStatus = .pending
    var retries: UInt16 = 0
    var submitted: Int64
    private var startedMicros: Int64 = 0
    private var completedMicros: Int64 = 0
    private var receivedMicros: Int64 = 0
    private var processGroupRaw: Int32 = 0

    init(batch: BatchSlot, seq: Int, submitted: Int64) {
        self.init(batch: batch, seq: Int32(clamping: seq), submitted: submitted)
    }

    init(batch: BatchSlot, seq: Int32, submitted: Int64) {
        self.batch = Int32(batch.id)
        self.seq = seq
        self.submitted = submitted
    }

    @inline(__always) var batchSlot: BatchSlot { BatchSlot(Int(batch)) }
    /// Counts one more run: automatic retries stop at `ViewFlags.maxRetries`, a user's retries saturate the counter.
    mutating func countRetry() { retries = retries == .max ? .max : retries + 1 }
    /// The engine it is assigned to.
    var engine: EngineID? {
        get { engineRaw >= 0 ? Int(engineRaw) : nil }
        set { engineRaw = newValue.map { Int32($0) } ?? -1 }
    }
    @inline(__always) var isUnassigned: Bool { engineRaw < 0 }
    @inline(__always) func isAssigned(to e: EngineID) -> Bool { engineRaw == Int32(e) }
    var started: Timestamp? {
        get { startedMicros > 0 ? Timestamp(microseconds: startedMicros) : nil }
        set { startedMicros = newValue?.microseconds ?? 0 }
    }
    var completed: Timestamp? {
        get { completedMicros > 0 ? Timestamp(microseconds: completedMicros) : nil }
        set { completedMicros = newValue?.microseconds ?? 0 }
    }
    var received: Timestamp? {
        get { receivedMicros > 0 ? Timestamp(microseconds: receivedMicros) : nil }
        set { receivedMicros = newValue?.microseconds ?? 0 }
    }
    var processGroup: Int32? {
        get { processGroupRaw > 0 ? processGroupRaw : nil }
        set { processGroupRaw = newValue ?? 0 }
    }
    /// Microseconds from start to completion, once both are known.
    var runMicros: Int64? {
        startedMicros > 0 && completedMicros > 0 ? max(0, completedMicros - startedMicros) : nil
    }
}

/// What is kept only for the tasks that need it (outputs, errors, dependencies, blacklists).
struct TaskExtra {
    var stdout = CapturedOutput.empty
    var stderr = CapturedOutput.empty
    var error: String?
    var exitStatus: Int32?
    var signal: Int32?
    var after: Dependency?
    var follow: Dependency?
    /// Engines where it failed: a retry prefers others.
    var failedOn: [EngineID] = []
    /// CPU seconds and peak memory of its (last) run.
    var usage: ResourceUsage?

    /// The dependencies it has, `after` first.
    var dependencies: [Dependency] { [after, follow].compactMap { $0 } }
}

/// What a plain ended task keeps beyond its record (see `TaskStore.plainEnds`).
struct PlainEnd {
    var exitStatus: Int32?
    var usage: ResourceUsage?
}

/// Options fixed for every task of a batch.
struct BatchOptions: Sendable {
    var label: String
    var retries: Int
    var runTimeLimit: Double?
    var dependencyTimeout: Double?
    var maxOutput: Int
    var spoolDirectory: String?
    var outputTap: OutputTap?
    var workingDirectory: String?
    var environment: [String: String]
    var targets: [EngineID]?
    var halt: HaltPolicy?
    /// When `halt` fires (nil: the first failure).
    var haltOn: HaltCondition? = nil
}

/// A batch: one AsyncResult's tasks, contiguous ids. A lazy batch (a sweep) makes its tasks as the ready queue
/// drains, and a streamed one (stdin) gets them as they are read: either is the store's last batch until all its
/// tasks are made, so its ids stay contiguous.
struct BatchState {
    var id: BatchID
    var first: Int
    /// Tasks made so far (they have slots).
    var count: Int
    /// Tasks it has or will have, as known: a lazy batch's total from the start, a stream's tasks read so far.
    /// The ones not made yet are counted `pending` in `counts` (and the totals).
    var planned: Int
    /// Makes task `i` (0-based) of a lazy batch; nil once every task is made.
    var make: (@Sendable (Int) -> TaskWork)?
    /// A stream still being read: more tasks may come (its count is unknown).
    var open = false
    var options: BatchOptions
    var counts = StatusCounts()
    var submitted: Int64
    var lastReceived: Int64 = 0
    var serialMicros: Int64 = 0
    /// Task indices in the order they finished.
    var completionOrder: [Int32] = []
    var doneWaiters: [(token: Int, wake: @Sendable () -> Void)] = []
    var streams: [Int: AsyncStream<Int>.Continuation] = [:]
    /// Its halt policy has fired.
    var halted = false
    /// What each of its tasks is handed alike, made at its first assignment (`State.assignment`).
    var context: AssignmentContext? = nil
    var isDone: Bool { !open && counts.done == planned }
    /// Tasks counted but not made yet.
    var unmade: Int { planned - count }
    /// Its tasks' slots, in submission order.
    var slots: some Sequence<TaskSlot> { (first..<(first + count)).lazy.map(TaskSlot.init) }
}

/// Every task and batch the scheduler holds, addressed by typed slots.
struct TaskStore {
    private(set) var records = ContiguousArray<TaskRecord>()
    private(set) var works = ContiguousArray<TaskWork>()
    var results = ContiguousArray<(any Sendable)?>()
    var extras = [TaskSlot: TaskExtra]()
    /// The exit status and resource use of a task that ended with nothing else to keep (no output, error, signal or
    /// dependency): every plain shell task. A `TaskExtra` each (~230 B, in a dictionary) made a finished shell task
    /// cost ~720 B; this is ~40 B a value. `extra(_:)` reads both.
    var plainEnds = [TaskSlot: PlainEnd]()
    private(set) var batches = [BatchState]()

    /// A task's extras, from `extras` or else from `plainEnds`.
    func extra(_ slot: TaskSlot) -> TaskExtra? {
        if let x = extras[slot] { return x }
        guard !plainEnds.isEmpty, let p = plainEnds[slot] else { return nil }
        var x = TaskExtra()
        x.exitStatus = p.exitStatus
        x.usage = p.usage
        return x
    }

    /// Whether the task has anything beyond its record (what `TaskFacts.hasExtras` says).
    func hasExtra(_ slot: TaskSlot) -> Bool { extras[slot] != nil || (!plainEnds.isEmpty && plainEnds[slot] != nil) }

    var count: Int { records.count }
    var batchCount: Int { batches.count }
    /// The slot the next task will take.
    var nextSlot: TaskSlot { TaskSlot(records.count) }
    var nextBatch: BatchSlot { BatchSlot(index: batches.count) }

    @inline(__always) func contains(_ slot: TaskSlot) -> Bool { slot.index >= 0 && slot.index < records.count }
    func contains(_ batch: BatchSlot) -> Bool { batch.index >= 0 && batch.index < batches.count }

    @inline(__always) subscript(slot: TaskSlot) -> TaskRecord {
        _read { yield records[slot.index] }
        _modify { yield &records[slot.index] }
    }

    @inline(__always) func work(_ slot: TaskSlot) -> TaskWork { works[slot.index] }

    @inline(__always) subscript(batch: BatchSlot) -> BatchState {
        _read { yield batches[batch.index] }
        _modify { yield &batches[batch.index] }
    }

    /// The batch a task belongs to.
    @inline(__always) subscript(batchOf slot: TaskSlot) -> BatchState {
        _read { yield batches[records[slot.index].batchSlot.index] }
        _modify { yield &batches[records[slot.index].batchSlot.index] }
    }

    mutating func appendBatch(_ b: BatchState) { batches.append(b) }

    mutating func append(_ record: TaskRecord, work: TaskWork) {
        records.append(record)
        works.append(work)
        results.append(nil)
    }

    /// Makes room for `count` tasks in the per-task arrays, at least doubling when they must grow.
    mutating func reserve(_ count: Int) {
        guard records.capacity < count || works.capacity < count || results.capacity < count else { return }
        let target = max(count, records.count * 2)
        records.reserveCapacity(target)
        works.reserveCapacity(target)
        results.reserveCapacity(target)
    }

    /// The status of a task by id (dependencies name tasks by id).
    @inline(__always) func status(_ id: TaskID) -> TaskStatus { records[TaskSlot(id).index].status }
}
