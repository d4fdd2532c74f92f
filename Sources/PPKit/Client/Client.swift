import Foundation

/// The entry point, as ipyparallel's `Client`: engines, views, and the queue's status.
public final class Client: Sendable {
    /// The one scheduler every view, the dashboard and the CLI read from.
    public let scheduler: Scheduler
    private let engineFactory: @Sendable () throws -> any Engine

    /// A client with `engines` in-process engines (default: one per core).
    public convenience init(engines: Int = ProcessInfo.processInfo.activeProcessorCount, scheme: Scheme = .leastLoad) {
        self.init(scheduler: Scheduler(scheme: scheme), engineFactory: { InProcessEngine() })
        for _ in 0..<max(0, engines) { scheduler.addEngine(InProcessEngine()) }
    }

    /// A client on an existing scheduler; `engineFactory` makes the engines that `addEngine()` adds.
    public init(scheduler: Scheduler, engineFactory: @escaping @Sendable () throws -> any Engine) {
        self.scheduler = scheduler
        self.engineFactory = engineFactory
    }

    /// Alive engine ids (ipyparallel's `client.ids`).
    public var ids: [EngineID] { scheduler.engineIDs }

    /// A view where the scheduler picks the engine.
    public func loadBalancedView() -> View { View(client: self, targets: nil) }

    /// A view whose tasks go to the given engines, round-robin.
    public func directView(targets: [EngineID]) -> View { View(client: self, targets: targets) }

    /// Per engine: queued, running, completed; plus unassigned tasks.
    public func queueStatus() -> QueueStatus { scheduler.queueStatus() }

    /// Adds one engine of this client's default kind.
    @discardableResult
    public func addEngine() throws -> EngineID { scheduler.addEngine(try engineFactory()) }

    /// Adds a given engine.
    @discardableResult
    public func addEngine(_ engine: any Engine) -> EngineID { scheduler.addEngine(engine) }

    /// Takes an engine out of service (its running task finishes, queued ones go elsewhere).
    public func removeEngine(_ id: EngineID) throws(PPError) { try scheduler.removeEngine(id) }

    /// Aborts everything unfinished and stops the engines.
    public func shutdown() { scheduler.shutdown() }
}

/// A view's flags, as ipyparallel's LoadBalancedView flags, plus a run-time limit.
public struct ViewFlags: Sendable {
    /// Results in submission order (true) or completion order (false).
    public var ordered = true
    /// How many times a failed task is run again, elsewhere where possible.
    public var retries = 0
    /// Run only after these tasks finished (as the dependency says).
    public var after: Dependency?
    /// Run on an engine where these tasks ran.
    public var follow: Dependency?
    /// Seconds a task may wait for its dependencies and an engine (ipyparallel's `timeout`).
    public var dependencyTimeout: Double?
    /// Seconds a task may run (ipyparallel has none).
    public var runTimeLimit: Double?
    /// A label for the batch (shown in the progress widget).
    public var label: String?
    /// Bytes of stdout/stderr kept per stream per task.
    public var maxOutput = 65536
    /// Directory where a shell task's stream goes whole once it passes `maxOutput` (files `<task id>.out`,
    /// `<task id>.err`, created 0600); nil: head and tail only.
    public var spoolDirectory: String?
    /// Sees each chunk of a shell task's output as it arrives, on engines in this process (`--line-buffer`).
    public var outputTap: OutputTap?
    /// Working directory for shell tasks.
    public var workingDirectory: String?
    /// Extra environment for shell tasks.
    public var environment: [String: String] = [:]
    /// What the batch's first failure stops (GNU parallel's `--halt now|soon,fail=1`); nil: nothing.
    public var halt: HaltPolicy?
    /// When `halt` fires: nil is the first failure (GNU's `fail=1`).
    public var haltOn: HaltCondition?
    public init() {}

    /// Most tasks one submit may hold: a larger batch is refused with this number rather than allocated.
    public static let maxBatchTasks = 10_000_000
    /// Most retries a task may have (the task record counts them in 16 bits).
    public static let maxRetries = 1000
}

/// What a batch's first failure stops; the scheduler applies it as it records the failure, so no task starts after.
public enum HaltPolicy: String, Sendable, CaseIterable {
    /// Tasks not yet started are aborted and running ones stopped.
    case now
    /// Tasks not yet started are aborted; running ones finish.
    case soon
}
