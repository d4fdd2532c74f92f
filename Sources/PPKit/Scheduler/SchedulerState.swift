import DequeModule

/// One task's stored record: plain values in a contiguous array, no allocation per task.
struct TaskRecord {
    var batch: Int32
    var seq: Int32
    /// Engine it is assigned to, or -1.
    var engine: Int32 = -1
    var status: TaskStatus = .pending
    var retries: UInt16 = 0
    var submitted: Int64
    var started: Int64 = 0
    var completed: Int64 = 0
    var received: Int64 = 0
    var processGroup: Int32 = 0
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
}

/// Options fixed for every task of a batch.
struct BatchOptions: Sendable {
    var label: String
    var retries: Int
    var runTimeLimit: Double?
    var dependencyTimeout: Double?
    var maxOutput: Int
    var workingDirectory: String?
    var environment: [String: String]
    var targets: [EngineID]?
    var halt: HaltPolicy?
}

/// A batch: one AsyncResult's tasks, contiguous ids.
struct BatchState {
    var id: BatchID
    var first: Int
    var count: Int
    var options: BatchOptions
    var counts = StatusCounts()
    var submitted: Int64
    var lastReceived: Int64 = 0
    var serialMicros: Int64 = 0
    /// Task indices in the order they finished.
    var completionOrder: [Int32] = []
    var doneWaiters: [(Int, @Sendable () -> Void)] = []
    var streams: [Int: AsyncStream<Int>.Continuation] = [:]
    /// Its halt policy has fired.
    var halted = false
    var isDone: Bool { counts.done == count }
}

/// An engine as the scheduler tracks it.
struct EngineSlot {
    let engine: any Engine
    let info: EngineInfo
    let runsClosures: Bool
    var hwm: Int
    var alive = true
    var draining = false
    var deathReason: String?
    /// Tasks handed over and not reported finished, oldest first.
    var assigned: [Int] = []
    /// What `assigned` costs against the high-water mark (see `TaskWork.hwmCost`).
    var load = 0
    /// Tasks pinned to this engine (direct views), waiting for capacity.
    var pinned = Deque<Int>()
    var current: Int?
    var lru: Int
    var done = 0
    var failed = 0
    var created: Int64
    var busySince: Int64 = 0
    var busyTotal: Int64 = 0
    /// Busy microseconds per 5 s bucket, a ring indexed by bucket number % 12.
    var buckets = [Int64](repeating: 0, count: 12)
    var bucketEpoch = [Int64](repeating: -1, count: 12)

    var capacity: Int {
        guard alive && !draining else { return 0 }
        return hwm == 0 ? Int.max : max(0, hwm - load)
    }

    static let bucketMicros: Int64 = 5_000_000

    mutating func addBusy(from start: Int64, to end: Int64) {
        guard end > start else { return }
        busyTotal += end - start
        var t = start
        while t < end {
            let b = t / EngineSlot.bucketMicros
            let bucketEnd = (b + 1) * EngineSlot.bucketMicros
            let upto = min(end, bucketEnd)
            let i = Int(b % 12)
            if bucketEpoch[i] != b {
                bucketEpoch[i] = b
                buckets[i] = 0
            }
            buckets[i] += upto - t
            t = upto
        }
    }

    /// Busy fraction per bucket over the last minute, oldest first, counting a task still running.
    func activity(now: Int64) -> [Double] {
        var copy = self
        if let _ = current, busySince > 0 { copy.addBusy(from: busySince, to: now) }
        let nowBucket = now / EngineSlot.bucketMicros
        var out = [Double]()
        out.reserveCapacity(12)
        for k in stride(from: 11, through: 0, by: -1) {
            let b = nowBucket - Int64(k)
            let i = Int(((b % 12) + 12) % 12)
            let busy = copy.bucketEpoch[i] == b ? copy.buckets[i] : 0
            let span = k == 0 ? max(1, now - b * EngineSlot.bucketMicros) : EngineSlot.bucketMicros
            out.append(min(1, Double(busy) / Double(span)))
        }
        return out
    }
}

extension TaskWork {
    /// Slots a task takes in an engine's high-water mark. A no-op takes 1, so a deep mark (64 on worker processes)
    /// pipelines no-ops past the round trip; any other task takes half the mark, so at most one waits behind the
    /// running one and a busy engine cannot hoard tasks an idle one could start (least-load stays fair).
    func hwmCost(hwm: Int) -> Int {
        if case .builtin(.noop) = self { return 1 }
        return max(1, hwm / 2)
    }
}
