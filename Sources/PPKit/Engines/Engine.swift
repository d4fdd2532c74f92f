import PPSystem

/// The built-in task kinds that need no closure and no child process: the protocol can carry them to any engine.
public enum BuiltinTask: Sendable, Hashable, Codable {
    /// Does nothing and returns 0: measures the scheduler itself.
    case noop
    /// The cookbook recipe's `f(x)`: sleeps `seconds`, returns `x*x`.
    case sleepSquare(x: Int, seconds: Double)
}

/// What a task runs.
public enum TaskWork: Sendable {
    /// A blocking Swift closure, run on the engine's thread.
    case blocking(@Sendable () throws -> any Sendable)
    /// An async Swift closure; the engine's thread waits for it.
    case async(@Sendable () async throws -> any Sendable)
    /// A shell command expanded from a template.
    case shell(ShellTask)
    case builtin(BuiltinTask)

    /// A shell command (reports its own start, with its process group).
    var isShell: Bool {
        if case .shell = self { return true }
        return false
    }

    /// Whether another process could run it (closures cannot cross a process boundary).
    public var isPortable: Bool {
        switch self {
        case .blocking, .async: false
        case .shell, .builtin: true
        }
    }
}

/// What kind of value an engine reported: found before the scheduler's lock is taken (each dynamic cast costs a few
/// hundred instructions, and under the lock every engine waits for them).
enum ReportedValue: Equatable {
    case none, int, shell, other

    init(_ value: (any Sendable)?) {
        guard let value else {
            self = .none
            return
        }
        // The common kinds by their type alone (a pointer compare): a dynamic cast costs ~250 instructions per task.
        let t = type(of: value)
        if t == Int.self {
            self = .int
            return
        }
        if t == ShellResult.self {
            self = .shell
            return
        }
        self = value is Int ? .int : value is ShellResult ? .shell : .other
    }
}

extension TaskWork {
    /// Why an `ok` outcome whose value is of `kind` lacks the value this work returns (a `ShellResult` for a shell
    /// task, an `Int` for a built-in), as a worker may report; nil when it has it. The scheduler records such an `ok`
    /// as the task's error, never a failed cast in a reader.
    func missingValue(_ kind: ReportedValue) -> String? {
        switch self {
        case .blocking, .async: return nil  // a closure's value is typed where it was submitted
        case .shell:
            if kind == .shell { return nil }
            return kind == .none ? "without a value" : "with a value that is not a shell result"
        case .builtin:
            if kind == .int { return nil }
            return kind == .none ? "without a value" : "with a value that is not an integer"
        }
    }
}

extension TaskOutcome {
    /// An `ok` report without the value its work returns becomes the task's error (see `TaskWork.missingValue`).
    mutating func fail(reportedOk why: String) {
        status = .error
        value = nil
        error = "the worker reported ok \(why)"
    }
}

/// One task handed to an engine.
///
/// The batch-level fields (limit, output bound, spool, tap, directory, environment) live in one shared, immutable
/// `AssignmentContext`, made once per batch: a copy of an assignment (several per task on the dispatch path)
/// retains one reference instead of five.
public struct Assignment: Sendable {
    public var task: TaskID
    public var work: TaskWork
    /// 1-based slot of the engine (GNU parallel's `{%}`).
    public var slot: Int
    /// The fields every task of its batch shares.
    var context: AssignmentContext

    /// Seconds the task may run; nil for no limit.
    public var runTimeLimit: Double? {
        get { context.fields.runTimeLimit }
        set { context = context.with { $0.runTimeLimit = newValue } }
    }
    /// Bytes of stdout/stderr kept per stream.
    public var maxOutput: Int {
        get { context.fields.maxOutput }
        set { context = context.with { $0.maxOutput = newValue } }
    }
    /// Where a stream passing `maxOutput` goes whole (`<task id>.out`/`.err`); nil: head and tail only.
    public var spoolDirectory: String? {
        get { context.fields.spoolDirectory }
        set { context = context.with { $0.spoolDirectory = newValue } }
    }
    /// Sees each chunk of a shell task's output as it comes (`--line-buffer`); nil: none.
    public var outputTap: OutputTap? {
        get { context.fields.outputTap }
        set { context = context.with { $0.outputTap = newValue } }
    }
    /// Working directory for shell tasks (nil: the engine's own).
    public var workingDirectory: String? {
        get { context.fields.workingDirectory }
        set { context = context.with { $0.workingDirectory = newValue } }
    }
    /// Extra environment for shell tasks.
    public var environment: [String: String] {
        get { context.fields.environment }
        set { context = context.with { $0.environment = newValue } }
    }

    public init(
        task: TaskID, work: TaskWork, runTimeLimit: Double?, maxOutput: Int, spoolDirectory: String?,
        outputTap: OutputTap?, slot: Int, workingDirectory: String?, environment: [String: String]
    ) {
        self.init(
            task: task, work: work, slot: slot,
            context: AssignmentContext(
                AssignmentContext.Fields(
                    runTimeLimit: runTimeLimit, maxOutput: maxOutput, spoolDirectory: spoolDirectory,
                    outputTap: outputTap, workingDirectory: workingDirectory, environment: environment)))
    }

    init(task: TaskID, work: TaskWork, slot: Int, context: AssignmentContext) {
        self.task = task
        self.work = work
        self.slot = slot
        self.context = context
    }
}

/// What every task of a batch is handed alike (see `Assignment`); never changed once made, so shared freely.
final class AssignmentContext: Sendable {
    let fields: Fields

    init(_ fields: Fields) {
        self.fields = fields
    }

    /// A copy with `change` made (an assignment's setter: the shared one is left alone).
    func with(_ change: (inout Fields) -> Void) -> AssignmentContext {
        var f = fields
        change(&f)
        return AssignmentContext(f)
    }

    struct Fields: Sendable {
        var runTimeLimit: Double?
        var maxOutput: Int
        var spoolDirectory: String?
        var outputTap: OutputTap?
        var workingDirectory: String?
        var environment: [String: String]
    }
}

/// How a task ended, as the engine reports it.
public struct TaskOutcome: Sendable {
    public var status: TaskStatus
    /// The returned value (closures, builtins) or the `ShellResult` (shell tasks).
    public var value: (any Sendable)?
    /// Why it failed.
    public var error: String?
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    public var exitStatus: Int32?
    public var signal: Int32?
    /// The engine's own clock at start and completion.
    public var started: Timestamp
    public var completed: Timestamp
    /// CPU seconds and peak resident memory of a shell task's process (`cpu_user`, `cpu_system`, `max_rss`).
    public var usage: ResourceUsage? = nil

    public init(
        status: TaskStatus, value: (any Sendable)? = nil, error: String? = nil, stdout: CapturedOutput = .empty,
        stderr: CapturedOutput = .empty, exitStatus: Int32? = nil, signal: Int32? = nil, started: Timestamp,
        completed: Timestamp
    ) {
        self.status = status
        self.value = value
        self.error = error
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.signal = signal
        self.started = started
        self.completed = completed
    }
}

/// Why the scheduler asks an engine to stop a task.
public enum CancelReason: Sendable, Hashable {
    case aborted
    case runTimeLimit
}

/// What an engine tells the scheduler. Calls may come from any thread.
public protocol EngineSink: Sendable {
    /// The task began running on the engine (engine clock); `processGroup` where a child process runs it.
    func engineStarted(_ engine: EngineID, task: TaskID, at: Timestamp, processGroup: Int32?)
    /// The task is finished; the engine is free for the next one.
    func engineFinished(_ engine: EngineID, task: TaskID, outcome: TaskOutcome)
    /// The task is settled as `outcome` though the engine is still busy with it (a closure past its run-time limit
    /// cannot be stopped); `engineFinished` follows when the engine is free.
    func engineSettled(_ engine: EngineID, task: TaskID, outcome: TaskOutcome)
    /// As `engineFinished`, and hands back the engine's next task when the scheduler gives it one at once, already
    /// marked started: an in-process engine then runs it with no wake-up and no second lock (the hot path).
    func engineFinishedTakeNext(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) -> Assignment?
    /// The engine is gone; tasks it held go back to the scheduler. `neverStarted`: tasks it held that it knows never
    /// began (only queued there): they go back to the queue with no retry spent. Any other task it held may have run.
    func engineDied(_ engine: EngineID, reason: String, neverStarted: Set<TaskID>)
    /// The engine is on its way out (its worker said it is leaving): it takes no new task; `engineDied` follows.
    func engineLeaving(_ engine: EngineID)
    /// An engine adopted held (a queued batch job) is ready: it takes tasks from now on.
    func engineReady(_ engine: EngineID)
}

/// A worker that runs one task at a time. Kinds (in-process thread, worker process, ssh, connected) all sit behind this.
public protocol Engine: AnyObject, Sendable {
    var info: EngineInfo { get }
    /// How many tasks the scheduler may hand it before it finishes one (ipyparallel's hwm; 0 = no limit).
    var highWaterMark: Int { get }
    /// Whether it can run Swift closures (only engines in this process can).
    var runsClosures: Bool { get }
    /// Called once when the scheduler adopts it.
    func start(id: EngineID, sink: any EngineSink)
    /// Queues a task; never blocks.
    func run(_ assignment: Assignment)
    /// Stops a queued or running task; the engine still reports `engineFinished` for it.
    func cancel(_ task: TaskID, reason: CancelReason)
    /// Finishes the current task (if `graceful`) and stops; pending assignments are reported back as finished `aborted`.
    func shutdown(graceful: Bool)
    /// The output so far of `task` while it runs here, where the engine can see it (nil: it cannot).
    func liveOutput(_ task: TaskID) -> LiveOutput?
    /// Meters a remote worker reported with its heartbeats (nil: none, or read them from this host).
    func reportedMeters() -> EngineMeters?
    /// The batch-system job it runs in (Slurm engines), as last seen; nil for other engines. An engine adopted
    /// with a job whose engine is not connected yet takes no task until it calls `EngineSink.engineReady`.
    var job: EngineJob? { get }
}

extension Engine {
    public var runsClosures: Bool { info.kind == .local }
    public func liveOutput(_ task: TaskID) -> LiveOutput? { nil }
    public var job: EngineJob? { nil }
}

extension EngineSink {
    /// The engine is gone and cannot say which of its tasks never began.
    public func engineDied(_ engine: EngineID, reason: String) { engineDied(engine, reason: reason, neverStarted: []) }

    public func engineLeaving(_ engine: EngineID) {}

    public func engineReady(_ engine: EngineID) {}

    public func engineFinishedTakeNext(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) -> Assignment? {
        engineFinished(engine, task: task, outcome: outcome)
        return nil
    }
}

/// The value a shell task returns.
public struct ShellResult: Sendable, Hashable {
    public var exitStatus: Int32?
    public var signal: Int32?
    /// The captured streams as bytes (shared with the task's metadata, not a second copy).
    public var stdoutOutput: CapturedOutput
    public var stderrOutput: CapturedOutput
    /// The streams as text (bytes that are not UTF-8 as U+FFFD).
    public var stdout: String { stdoutOutput.text }
    public var stderr: String { stderrOutput.text }

    public init(exitStatus: Int32?, signal: Int32?, stdout: CapturedOutput, stderr: CapturedOutput) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.stdoutOutput = stdout
        self.stderrOutput = stderr
    }
}
