import Synchronization

/// A load-balanced view (the scheduler picks engines).
public typealias LoadBalancedView = View
/// A direct view (tasks go to given engines, round-robin).
public typealias DirectView = View

/// How tasks reach engines: load-balanced (the scheduler's scheme picks) or direct (given targets).
///
/// A value type: `with(_:)` and `withTemporaryFlags(_:_:)` give ipyparallel's `set_flags` and `temp_flags`.
public struct View: Sendable {
    public let client: Client
    /// Engines for a direct view; nil for load-balanced.
    public let targets: [EngineID]?
    public var flags = ViewFlags()

    init(client: Client, targets: [EngineID]?) {
        self.client = client
        self.targets = targets
    }

    /// A copy with changed flags.
    public func with(_ change: (inout ViewFlags) -> Void) -> View {
        var copy = self
        change(&copy.flags)
        return copy
    }

    /// Runs `body` with changed flags, then restores them (ipyparallel's `temp_flags`).
    public mutating func withTemporaryFlags<T>(_ change: (inout ViewFlags) -> Void, _ body: (inout View) throws -> T) rethrows -> T {
        let saved = flags
        defer { flags = saved }
        change(&flags)
        return try body(&self)
    }

    func options(label: String) -> BatchOptions {
        BatchOptions(
            label: flags.label ?? label, retries: flags.retries, runTimeLimit: flags.runTimeLimit,
            dependencyTimeout: flags.dependencyTimeout, maxOutput: flags.maxOutput, spoolDirectory: flags.spoolDirectory,
            outputTap: flags.outputTap,
            workingDirectory: flags.workingDirectory, environment: flags.environment, targets: targets,
            halt: flags.halt, haltOn: flags.haltOn)
    }

    func submit(_ works: [TaskWork], label: String) throws(PPError) -> BatchHandle {
        let (batch, range) = try client.scheduler.submit(works: works, options: options(label: label), after: flags.after, follow: flags.follow)
        _ = range
        return BatchHandle(scheduler: client.scheduler, batch: batch, ordered: flags.ordered)
    }

    // MARK: map

    /// Applies `f` to every item, one task each; results stream in as tasks complete.
    public func mapAsync<T: Sendable, R: Sendable>(_ f: @escaping @Sendable (T) throws -> R, _ items: some Sequence<T>, label: String = "map") throws(PPError) -> AsyncMapResult<R> {
        let works = items.map { x in TaskWork.blocking { try f(x) } }
        return AsyncMapResult(handle: try submit(works, label: label))
    }

    /// Applies an async `f` to every item.
    public func mapAsync<T: Sendable, R: Sendable>(_ f: @escaping @Sendable (T) async throws -> R, _ items: some Sequence<T>, label: String = "map") throws(PPError) -> AsyncMapResult<R> {
        let works = items.map { x in TaskWork.async { try await f(x) } }
        return AsyncMapResult(handle: try submit(works, label: label))
    }

    /// Blocking map: waits for every result (throws the failure, or a CompositeError for several).
    public func map<T: Sendable, R: Sendable>(_ f: @escaping @Sendable (T) throws -> R, _ items: some Sequence<T>) throws -> [R] {
        try mapAsync(f, items).get()
    }

    // MARK: apply

    /// Runs `f` once as a task.
    public func applyAsync<R: Sendable>(_ f: @escaping @Sendable () throws -> R, label: String = "apply") throws(PPError) -> AsyncResult<R> {
        AsyncResult(handle: try submit([.blocking { try f() }], label: label))
    }

    /// Runs an async `f` once as a task.
    public func applyAsync<R: Sendable>(_ f: @escaping @Sendable () async throws -> R, label: String = "apply") throws(PPError) -> AsyncResult<R> {
        AsyncResult(handle: try submit([.async { try await f() }], label: label))
    }

    /// Blocking apply.
    public func apply<R: Sendable>(_ f: @escaping @Sendable () throws -> R) throws -> R {
        try applyAsync(f).get()
    }

    // MARK: shell and built-ins

    /// Submits a shell sweep: one task per argument tuple.
    public func submit(_ sweep: Sweep) throws(PPError) -> AsyncMapResult<ShellResult> {
        let count: Int
        do { count = try sweep.checkedCount() } catch { throw PPError(.invalidArgument, error.message) }
        if targets == nil && flags.after == nil && flags.follow == nil {
            return try submitLazy(count: count, label: sweep.template.text) { i in
                ShellTask(template: sweep.template, args: sweep.arguments(at: i), seq: i + 1)
            }
        }
        guard count <= ViewFlags.maxBatchTasks else {
            throw PPError(
                .invalidArgument,
                "the arguments make \(thousands(count)) tasks; at most \(thousands(ViewFlags.maxBatchTasks)) in one batch with dependencies or targets")
        }
        var works = [TaskWork]()
        works.reserveCapacity(count)
        for i in 0..<count {
            works.append(.shell(ShellTask(template: sweep.template, args: sweep.arguments(at: i), seq: i + 1)))
        }
        return AsyncMapResult(handle: try submit(works, label: sweep.template.text))
    }

    /// Opens a streamed shell batch: tasks come as `ShellStream.append` is called (stdin's lines, as read).
    public func openStream(template: Template) throws(PPError) -> ShellStream {
        let batch = try client.scheduler.openStream(options: options(label: template.text))
        return ShellStream(
            template: template, result: AsyncMapResult(handle: BatchHandle(scheduler: client.scheduler, batch: batch, ordered: flags.ordered)))
    }

    /// Submits `count` shell tasks made as they are dispatched (`task(i)`, 0-based): a batch of any size costs nothing
    /// up front. Their ids are consecutive: no other batch is taken until the last is made (`PPError` meanwhile).
    /// Without dependencies and targets only.
    public func submitLazy(
        count: Int, label: String, task: @escaping @Sendable (Int) -> ShellTask
    ) throws(PPError) -> AsyncMapResult<ShellResult> {
        guard targets == nil && flags.after == nil && flags.follow == nil else {
            throw PPError(.invalidArgument, "a batch made as it is dispatched takes no dependencies or targets")
        }
        let batch = try client.scheduler.submitLazy(total: count, options: options(label: label)) { i in .shell(task(i)) }
        return AsyncMapResult(handle: BatchHandle(scheduler: client.scheduler, batch: batch, ordered: flags.ordered))
    }

    /// Submits shell tasks as given, each keeping its own template, arguments and `{#}` (a resume runs these).
    public func submit(shellTasks: [ShellTask], label: String) throws(PPError) -> AsyncMapResult<ShellResult> {
        AsyncMapResult(handle: try submit(shellTasks.map { .shell($0) }, label: label))
    }

    /// Submits built-in tasks (no closure, no child process); they return Ints.
    public func submit(builtins: [BuiltinTask], label: String = "builtin") throws(PPError) -> AsyncMapResult<Int> {
        AsyncMapResult(handle: try submit(builtins.map { .builtin($0) }, label: label))
    }
}

/// A streamed shell batch being fed (see `View.openStream`): one task per appended argument list, `{#}` counting
/// from 1; `close` ends it, so its count is known.
public final class ShellStream: Sendable {
    public let template: Template
    public let result: AsyncMapResult<ShellResult>
    private let ended = Atomic<Bool>(false)
    /// Where a reader waits for room (`waitForRoom`).
    let room = StreamRoom()

    init(template: Template, result: AsyncMapResult<ShellResult>) {
        self.template = template
        self.result = result
    }

    private var scheduler: Scheduler { result.handle.scheduler }

    /// Adds tasks, one per argument list; false once the batch is closed (stopped or halted): stop reading.
    public func append(_ argumentLists: [[String]]) -> Bool {
        let first = result.count
        let works = argumentLists.enumerated().map { (i, args) in
            TaskWork.shell(ShellTask(template: template, args: args, seq: first + i + 1))
        }
        return scheduler.append(works, toStream: result.handle.batch)
    }

    /// Adds tasks as given, each keeping its own arguments and `{#}` (GNU parallel's --resume leaves some Seqs out);
    /// false once the batch is closed.
    public func append(shellTasks: [ShellTask]) -> Bool {
        scheduler.append(shellTasks.map { .shell($0) }, toStream: result.handle.batch)
    }

    /// Tasks made and not started yet: a reader waits while many are.
    public var queued: Int { scheduler.queuedCount(result.handle.batch) }

    /// No more tasks: the batch ends once those given are done. `inputEnded`: the input was read to its end (false:
    /// the reader stopped early, the batch having stopped taking tasks).
    public func close(inputEnded: Bool = true) {
        ended.store(inputEnded, ordering: .releasing)
        scheduler.closeStream(result.handle.batch)
        finishRoom()
    }

    /// The input was read to its end (see `close`).
    public var inputEnded: Bool { ended.load(ordering: .acquiring) }
}
