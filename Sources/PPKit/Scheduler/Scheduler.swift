import DequeModule
import Dispatch
import PPSystem
#if canImport(Glibc)
    import Glibc
#endif
import Synchronization

/// Something that happened in the scheduler, in the order it happened: what a journal records.
public enum SchedulerEvent: Sendable {
    case submitted(task: TaskID, batch: BatchID)
    case started(task: TaskID, engine: EngineID, at: Timestamp, processGroup: Int32?)
    case completed(task: TaskID, batch: BatchID, status: TaskStatus)
    case engineAdded(EngineID)
    case engineDied(EngineID, reason: String)
}

/// The single source of truth: task records, engines and batches, with load-balanced dispatch.
///
/// Every reader (the API, the dashboard, the headless CLI, a journal) reads from here; state lives behind one `Mutex`.
public final class Scheduler: Sendable {
    let state: HotLock<State>
    /// The thread that runs the observers.
    let delivery = EventDelivery()
    /// How many observers exist: lets the hot path skip event delivery with no lock.
    let observerCount = Atomic<Int>(0)
    /// Called on the engine's thread as a task's process starts, before its event is delivered (see `setStartHook`).
    let startHook = Mutex<StartHook?>(nil)
    public let clock: any PPClock

    /// Creates a scheduler with no engines.
    public init(scheme: Scheme = .leastLoad, clock: any PPClock = SystemClock(), seed: UInt64? = nil) {
        self.clock = clock
        let now = clock.now().microseconds
        self.state = HotLock(
            State(
                scheme: scheme, rng: SplitMix64(seed: seed ?? UInt64(bitPattern: now)), startedAt: now, clock: clock,
                delivery: delivery))
    }

    deinit { delivery.stop() }

    /// The current scheme; changing it affects the next dispatch.
    public var scheme: Scheme {
        get { state.withLock { $0.scheme } }
        set { state.withLock { $0.scheme = newValue } }
    }

    // MARK: engines

    /// Adopts an engine; it takes work at once.
    @discardableResult
    public func addEngine(_ engine: any Engine) -> EngineID {
        let now = clock.now().microseconds
        let (id, effects) = state.withLock { s -> (EngineID, Effects) in
            let id = s.engines.count
            s.lruCounter += 1
            // A new engine goes to the front of the LRU order (ipyparallel).
            let minLRU = s.engines.map(\.lru).min() ?? 0
            s.engines.append(
                EngineSlot(engine: engine, info: engine.info, runsClosures: engine.runsClosures, hwm: engine.highWaterMark, lru: minLRU - 1, created: now))
            s.engines[id].held = engine.job?.isQueued ?? false
            s.queues.addEngine()
            s.emit(.engineAdded(id))
            s.generation &+= 1
            var fx = Effects()
            s.dispatch(&fx)
            return (id, fx)
        }
        engine.start(id: id, sink: self)
        perform(effects)
        return id
    }

    /// Takes an engine out of service: it takes no new work and finishes what it holds.
    public func removeEngine(_ id: EngineID) throws(PPError) {
        let engine = try update { s, fx throws(PPError) -> any Engine in
            guard s.engines.indices.contains(id) else { throw PPError(.unknownID, "no engine \(id)") }
            guard s.engines[id].alive, !s.engines[id].draining else {
                throw PPError(.invalidState, "engine \(id) is already stopped")
            }
            s.engines[id].draining = true
            // It finishes what it holds (taking work back could run a task twice); pinned tasks have nowhere to go.
            for slot in s.queues.unpinAll(id) where s.isDispatchable(slot) {
                s.failTask(slot, status: .error, error: "engine \(id) was removed; task \(slot.id) was pinned to it", fx: &fx, now: clock.now())
            }
            if s.engines[id].assigned.isEmpty { s.markRemoved(id) }
            s.generation &+= 1
            return s.engines[id].engine
        }
        engine.shutdown(graceful: true)
    }

    /// Whether tasks wait when every engine has died (engines may still join, e.g. through a listener). When
    /// false (the default), the death of the last engine fails every unfinished task with an engine error naming
    /// the deaths, and so does a submit while every engine is dead: a run never waits for engines that cannot come.
    public var waitsForEngines: Bool {
        get { state.withLock { $0.waitsForEngines } }
        set { update { s, fx in
            s.waitsForEngines = newValue
            s.failIfNoEngineLeft(fx: &fx, now: clock.now())
        } }
    }

    /// Engine ids, alive ones only (ipyparallel's `client.ids`).
    public var engineIDs: [EngineID] { state.withLock { $0.aliveIDs } }

    /// Per engine: queued, running and completed counts, plus the unassigned ones; true after an engine dies.
    public func queueStatus() -> QueueStatus {
        state.withLock { s in
            var engines = [EngineID: QueueStatus.EngineQueue]()
            for (id, e) in s.engines.enumerated() where e.alive {
                let running = e.current == nil ? 0 : 1
                engines[id] = .init(queued: e.assigned.count - running + s.queues.pinned[id].count, running: running, completed: e.done + e.failed)
            }
            var unassigned = 0
            for slot in s.queues.fifo where s.isDispatchable(slot) { unassigned += 1 }
            for slot in s.queues.constrained where s.tasks[slot].status == .pending { unassigned += 1 }
            unassigned += s.dependencies.count
            return QueueStatus(engines: engines, unassigned: unassigned)
        }
    }

    // MARK: submission

    /// Submits a batch of tasks; returns its id. Views call this.
    func submit(
        works: [TaskWork], options: BatchOptions, after: Dependency?, follow: Dependency?
    ) throws(PPError) -> (BatchID, Range<Int>) {
        try Self.check(options)
        guard works.count <= ViewFlags.maxBatchTasks else {
            throw PPError(
                .invalidArgument,
                "a batch of \(thousands(works.count)) tasks; at most \(thousands(ViewFlags.maxBatchTasks)) in one batch")
        }
        let now = clock.now()
        let (batch, range) = try update { s, fx throws(PPError) -> (BatchID, Range<Int>) in
            for dep in [after, follow].compactMap({ $0 }) {
                for d in dep.ids where !s.tasks.contains(TaskSlot(d)) {
                    throw PPError(.invalidDependency, "dependency on unknown task \(d)")
                }
            }
            if let targets = options.targets {
                guard !targets.isEmpty else { throw PPError(.invalidArgument, "a direct view needs at least one target") }
                for t in targets where !s.aliveIDs.contains(t) {
                    throw PPError(.noEngine, "engine \(t) is not alive; alive engines: \(s.aliveIDs)")
                }
            }
            try s.refuseWhileMaking()
            let batch = s.tasks.nextBatch
            let first = s.tasks.count
            s.tasks.appendBatch(
                BatchState(id: batch.id, first: first, count: works.count, planned: works.count, options: options, submitted: now.microseconds))
            // Grow geometrically: an exact reserve per submit copied every record on each one-task batch (O(N) each).
            s.tasks.reserve(first + works.count)
            for (i, w) in works.enumerated() {
                let slot = s.tasks.nextSlot
                s.tasks.append(TaskRecord(batch: batch, seq: i + 1, submitted: now.microseconds), work: w)
                s.totals.pending += 1
                s.tasks[batch].counts.pending += 1
                s.emit(.submitted(task: slot.id, batch: batch.id))
            }
            for (i, slot) in s.tasks[batch].slots.enumerated() {
                if let targets = options.targets {
                    s.queues.pin(slot, to: targets[i % targets.count])
                } else if after != nil || follow != nil {
                    s.tasks.extras[slot] = TaskExtra(after: after, follow: follow)
                    s.enqueueWithDependencies(slot, fx: &fx, now: now)
                } else {
                    s.queues.append(slot)
                }
            }
            if works.isEmpty { s.fireIfDone(batch, fx: &fx) }
            s.generation &+= 1
            s.failIfNoEngineLeft(fx: &fx, now: now)
            return (batch.id, first..<(first + works.count))
        }
        if let t = options.dependencyTimeout {
            let deadline = DispatchTime.now() + .nanoseconds(Int(Timings.nanoseconds(t) ?? 0))
            DispatchQueue.global().asyncAfter(deadline: deadline) { [weak self] in
                self?.dependencyDeadline(range: range, seconds: t)
            }
        }
        return (batch, range)
    }

    /// Refuses options no batch can have.
    static func check(_ options: BatchOptions) throws(PPError) {
        if let t = options.runTimeLimit, !(t > 0 && t.isFinite) { throw PPError(.invalidArgument, "the run-time limit must be a finite number of seconds > 0 (got \(t))") }
        if let t = options.dependencyTimeout, !(t >= 0 && t.isFinite) { throw PPError(.invalidArgument, "the dependency timeout must be a finite number of seconds >= 0 (got \(t))") }
        guard (0...ViewFlags.maxRetries).contains(options.retries) else {
            throw PPError(.invalidArgument, "retries must be from 0 to \(ViewFlags.maxRetries) (got \(options.retries))")
        }
    }

    /// Submits a lazy batch of `total` tasks: task `i` (0-based) is made by `make` when the ready queue runs low
    /// (see `State.topUp`), so a batch of ten million costs nothing until its tasks are dispatched. All `total`
    /// are counted (pending) from the start.
    func submitLazy(total: Int, options: BatchOptions, make: @escaping @Sendable (Int) -> TaskWork) throws(PPError) -> BatchID {
        guard total >= 0 else { throw PPError(.invalidArgument, "a batch of \(total) tasks") }
        try Self.check(options)
        let now = clock.now()
        return try update { s, fx throws(PPError) -> BatchID in
            try s.refuseWhileMaking()
            let batch = s.tasks.nextBatch
            s.tasks.appendBatch(
                BatchState(
                    id: batch.id, first: s.tasks.count, count: 0, planned: total, make: total > 0 ? make : nil,
                    options: options, submitted: now.microseconds))
            s.tasks[batch].counts.pending = total
            s.totals.pending += total
            if total > 0 { s.making = batch } else { s.fireIfDone(batch, fx: &fx) }
            s.generation &+= 1
            s.failIfNoEngineLeft(fx: &fx, now: now)
            return batch.id
        }
    }

    /// Opens a streamed batch: its tasks come with `append(_:toStream:)` until `closeStream`; its count is unknown
    /// until then.
    func openStream(options: BatchOptions) throws(PPError) -> BatchID {
        try Self.check(options)
        let now = clock.now()
        return try update { s, _ throws(PPError) -> BatchID in
            try s.refuseWhileMaking()
            let batch = s.tasks.nextBatch
            s.tasks.appendBatch(
                BatchState(id: batch.id, first: s.tasks.count, count: 0, planned: 0, open: true, options: options, submitted: now.microseconds))
            s.making = batch
            s.generation &+= 1
            return batch.id
        }
    }

    /// Adds tasks to an open stream; false when the stream is closed (stopped, halted, or closed already): the
    /// reader stops reading.
    func append(_ works: [TaskWork], toStream batch: BatchID) -> Bool {
        let now = clock.now()
        return update { s, fx in
            let b = BatchSlot(batch)
            guard s.tasks.contains(b), s.tasks[b].open, s.making == b else { return false }
            for w in works {
                s.tasks[b].planned += 1
                s.tasks[b].counts.pending += 1
                s.totals.pending += 1
                s.makeTask(b, work: w, now: now)
            }
            s.generation &+= 1
            s.failIfNoEngineLeft(fx: &fx, now: now)
            return true
        }
    }

    /// Ends a stream: its count is now known; the batch is done once its tasks are.
    func closeStream(_ batch: BatchID) {
        update { s, fx in
            let b = BatchSlot(batch)
            guard s.tasks.contains(b), s.tasks[b].open else { return }
            s.tasks[b].open = false
            if s.making == b { s.making = nil }
            s.generation &+= 1
            s.fireIfDone(b, fx: &fx)
        }
    }

    /// Tasks of the batch made but not started (what a stream's reader waits on).
    func queuedCount(_ batch: BatchID) -> Int {
        state.withLock { s in
            let b = s.tasks[BatchSlot(batch)]
            return b.counts.pending - b.unmade
        }
    }

    /// Tasks of `range` still unassigned at their dependency timeout fail with an error saying so.
    private func dependencyDeadline(range: Range<Int>, seconds: Double) {
        let now = clock.now()
        update { s, fx in
            for slot in range.lazy.map(TaskSlot.init) where s.isDispatchable(slot) {
                s.dependencies.forget(slot)
                s.failTask(slot, status: .error, error: "dependency timeout: still waiting after \(formatSeconds(seconds)) s", fx: &fx, now: now)
            }
        }
    }

    // MARK: control

    /// Aborts one task: pending ones never run, running ones are stopped. Finished tasks are left alone.
    public func abort(task: TaskID) {
        let now = clock.now()
        update { s, fx in s.abortTask(TaskSlot(task), fx: &fx, now: now) }
    }

    /// Aborts every unfinished task of a batch.
    public func abort(batch: BatchID) {
        let now = clock.now()
        update { s, fx in
            guard s.tasks.contains(BatchSlot(batch)) else { return }
            for slot in s.tasks[BatchSlot(batch)].slots { s.abortTask(slot, fx: &fx, now: now) }
            s.settleUnmade(BatchSlot(batch), status: .aborted, fx: &fx)
        }
    }

    /// Runs a finished, failed task again (a retry is counted).
    public func retry(task: TaskID) throws(PPError) {
        try update { s, fx throws(PPError) in
            let slot = TaskSlot(task)
            guard s.tasks.contains(slot) else { throw PPError(.unknownID, "no task \(task)") }
            guard s.tasks[slot].status.isFailure else {
                throw PPError(.invalidState, "task \(task) is \(s.tasks[slot].status); only failed tasks can be retried")
            }
            s.resubmit(slot, fx: &fx)
        }
    }

    /// Runs every failed task of a batch again; returns how many.
    @discardableResult
    public func retryFailed(batch: BatchID) throws(PPError) -> Int {
        try update { s, fx throws(PPError) in
            guard s.tasks.contains(BatchSlot(batch)) else { throw PPError(.unknownID, "no batch \(batch)") }
            var n = 0
            for slot in s.tasks[BatchSlot(batch)].slots where s.tasks[slot].status.isFailure {
                s.resubmit(slot, fx: &fx)
                n += 1
            }
            return n
        }
    }

    /// Pauses or resumes dispatch; running tasks go on.
    public var isPaused: Bool {
        get { state.withLock { $0.paused } }
        set {
            update { s, _ in
                s.paused = newValue
                s.generation &+= 1
            }
        }
    }

    /// Aborts everything unfinished and shuts the engines down.
    public func shutdown() {
        let now = clock.now()
        let (engines, fx) = state.withLock { s -> ([any Engine], Effects) in
            var fx = Effects()
            s.paused = true
            for slot in (0..<s.tasks.count).lazy.map(TaskSlot.init) where !s.tasks[slot].status.isFinished { s.abortTask(slot, fx: &fx, now: now) }
            if let b = s.making { s.settleUnmade(b, status: .aborted, fx: &fx) }
            return (s.engines.filter(\.alive).map(\.engine), fx)
        }
        perform(fx)
        for e in engines { e.shutdown(graceful: false) }
        // Shell tasks are being signalled by their engines: wait (boundedly) until they are reaped, so a process
        // that exits right after this leaves nothing running. Closures cannot be stopped and are not waited for.
        let deadline = clock.monotonicNanoseconds() + Int64(shutdownWait * 1e9)
        while clock.monotonicNanoseconds() < deadline {
            let busy = state.withLock { s in
                s.engines.contains { e in e.alive && e.current.map { s.tasks.work($0).isShell } == true }
            }
            if !busy { break }
            usleep(5_000)
        }
        flushEvents()
    }

    /// Returns once every event so far has reached the observers (a journal closing after a stop needs this).
    /// From an observer (on the delivery thread) it returns at once: the events it causes are delivered after it.
    public func flushEvents() {
        guard observerCount.load(ordering: .relaxed) > 0, !delivery.isCurrentThread else { return }
        waitForDelivery(upTo: state.withLock { $0.enqueued })
    }

    /// Seconds `shutdown()` waits for running shell tasks to be stopped.
    public var shutdownWait: Double { Timings.shutdownWait }

    // MARK: observation

    /// Calls `observer` with every event from now on, in order, on the scheduler's delivery thread (never an
    /// engine's or an event loop's); a waiter on a batch wakes only after the batch's events were delivered.
    @discardableResult
    public func addObserver(_ observer: @escaping @Sendable (SchedulerEvent) -> Void) -> Int {
        observerCount.add(1, ordering: .relaxed)
        let token = state.withLock { s in
            s.observerCounter += 1
            s.observers.append(Observer(token: s.observerCounter, call: observer))
            return s.observerCounter
        }
        startDelivery()
        return token
    }

    public func removeObserver(_ token: Int) {
        let removed = state.withLock { s -> Bool in
            guard let i = s.observers.firstIndex(where: { $0.token == token }) else { return false }
            s.observers.remove(at: i)
            return true
        }
        if removed { observerCount.subtract(1, ordering: .relaxed) }
    }

    /// The whole record of one task.
    public func metadata(_ task: TaskID) -> TaskMetadata? {
        let (found, engine) = state.withLock { s -> (TaskMetadata?, (any Engine)?) in
            let m = s.metadata(TaskSlot(task))
            guard let m, m.status == .running, let e = m.engine, s.engines.indices.contains(e) else { return (m, nil) }
            return (m, s.engines[e].engine)
        }
        // A running shell task's output so far, where its engine can see it.
        guard var m = found, let engine, let live = engine.liveOutput(task) else { return found }
        (m.stdout, m.stderr) = live.snapshot()
        return m
    }

    /// Drops a finished task's output from memory once it is printed and on disk (journal, spool); its record stays.
    public func releaseOutput(_ task: TaskID) {
        let slot = TaskSlot(task)
        state.withLock { s in
            guard s.tasks.contains(slot), s.tasks[slot].status.isFinished else { return }
            if var x = s.tasks.extras[slot] {
                x.stdout = x.stdout.releasingBytes()
                x.stderr = x.stderr.releasingBytes()
                s.tasks.extras[slot] = x
            }
            if let r = s.tasks.results[slot.index] as? ShellResult {
                s.tasks.results[slot.index] = ShellResult(
                    exitStatus: r.exitStatus, signal: r.signal, stdout: r.stdoutOutput.releasingBytes(),
                    stderr: r.stderrOutput.releasingBytes())
            }
        }
    }

    /// Counters over every task.
    public var totals: StatusCounts { state.withLock { $0.totals } }

    // MARK: effects

    /// Changes the state under the lock and dispatches; then, off the lock, carries out what that caused.
    @discardableResult
    func update<R, E: Error>(_ body: (inout State, inout Effects) throws(E) -> R) throws(E) -> R {
        let (r, fx) = try state.withLock { s throws(E) -> (R, Effects) in
            var fx = Effects()
            let r = try body(&s, &fx)
            s.dispatch(&fx)
            return (r, fx)
        }
        perform(fx)
        return r
    }

    func perform(_ fx: Effects) {
        for c in fx.cancels { c.engine.cancel(c.task, reason: c.reason) }
        for r in fx.runs { r.engine.run(r.assignment) }
        guard observerCount.load(ordering: .relaxed) > 0 else {
            for wake in fx.wakes { wake() }
            return
        }
        // Observers (a journal, the CLI's printer) see every event before a waiter learns the batch is done: the
        // delivery thread runs these wake-ups after the events queued before them.
        if !fx.wakes.isEmpty {
            state.withLock { $0.outboxWakes.append(contentsOf: fx.wakes) }
            delivery.ring()  // even if the last observer left meanwhile: the delivery thread runs queued wake-ups
        }
        eventsQueued()
    }
}

/// ipyparallel's `queue_status()`.
public struct QueueStatus: Sendable, Hashable {
    public struct EngineQueue: Sendable, Hashable {
        public var queued: Int
        public var running: Int
        public var completed: Int
    }
    /// Alive engines only: a dead engine is gone from here at once.
    public var engines: [EngineID: EngineQueue]
    public var unassigned: Int
}

/// Side effects collected under the lock and carried out after it.
struct Effects {
    /// A task to hand to an engine.
    struct Run {
        let engine: any Engine
        let assignment: Assignment
    }
    /// A task an engine is asked to stop.
    struct Cancel {
        let engine: any Engine
        let task: TaskID
        let reason: CancelReason
    }
    var runs: [Run] = []
    var cancels: [Cancel] = []
    var wakes: [@Sendable () -> Void] = []
    /// The engine that is finishing a task and takes its next one back (`engineFinishedTakeNext`), or -1: its first
    /// assignment goes to `carried`, not `runs` (no array made per completed task).
    var carryFor: EngineID = -1
    var carried: Assignment?
}

/// An observer of the scheduler's events, and the token that removes it.
struct Observer {
    let token: Int
    let call: @Sendable (SchedulerEvent) -> Void
    /// Set for an observer that takes a delivery round's events at once (see `addRoundObserver`); `call` is unused.
    var round: (@Sendable ([SchedulerEvent]) -> Void)? = nil
}

/// The start hook, boxed: a closure kept in a generic container and read back on every start would be wrapped in
/// one more reabstraction thunk each time.
final class StartHook: Sendable {
    let call: @Sendable (TaskID, EngineID, Timestamp, Int32) -> Void
    init(_ call: @escaping @Sendable (TaskID, EngineID, Timestamp, Int32) -> Void) { self.call = call }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? String(Int(s)) : String(s)
}

extension Scheduler: EngineSink {
    public func engineStarted(_ engine: EngineID, task: TaskID, at: Timestamp, processGroup: Int32?) {
        let marked = state.withLock { s -> Bool in
            let slot = TaskSlot(task)
            guard s.tasks.contains(slot), s.engines.indices.contains(engine) else { return false }
            guard s.engines[engine].assigned.contains(slot) else { return false }
            s.markStarted(slot, engine: engine, at: at, processGroup: processGroup)
            return true
        }
        if marked, let group = processGroup, let hook = startHook.withLock({ $0 }) { hook.call(task, engine, at, group) }
        eventsQueued()
    }

    /// Calls `hook` on the engine's thread each time a task's process group starts, before the event is queued
    /// for observers (a journal records it at once, never behind a backlog of events); nil removes it.
    public func setStartHook(_ hook: (@Sendable (TaskID, EngineID, Timestamp, Int32) -> Void)?) {
        let box = hook.map(StartHook.init)
        startHook.withLock { $0 = box }
    }

    public func engineFinished(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        _ = settle(engine, task: task, outcome: outcome, free: true, takeNext: false)
    }

    public func engineFinishedTakeNext(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) -> Assignment? {
        settle(engine, task: task, outcome: outcome, free: true, takeNext: true)
    }

    public func engineSettled(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        _ = settle(engine, task: task, outcome: outcome, free: false, takeNext: false)
    }

    private func settle(_ engine: EngineID, task: TaskID, outcome reported: TaskOutcome, free: Bool, takeNext: Bool) -> Assignment? {
        let received = clock.now()
        var next: Assignment?
        // The value's kind is found before the lock (a cast under it made every engine wait).
        let kind = reported.status == .ok ? ReportedValue(reported.value) : .none
        let fx = state.withLock { s -> Effects in
            var fx = Effects()
            let slot = TaskSlot(task)
            guard s.tasks.contains(slot), s.engines.indices.contains(engine) else { return fx }
            guard let pos = s.engines[engine].assigned.firstIndex(of: slot) else { return fx }
            // The reported outcome as it is (no copy of it per task), or, for an ok one that lacks its value, a
            // copy recording that as the task's error.
            if reported.status == .ok, let why = s.tasks.work(slot).missingValue(kind) {
                var failed = reported
                failed.fail(reportedOk: why)
                settleLocked(&s, &fx, engine, slot, pos, failed, received: received, free: free)
            } else {
                settleLocked(&s, &fx, engine, slot, pos, reported, received: received, free: free)
            }
            s.generation &+= 1
            if takeNext { fx.carryFor = engine }
            s.dispatch(&fx)
            if let a = fx.carried.take() {
                // Started here and now, so the engine runs it with no wake-up and no second lock.
                if !a.work.isShell { s.markStarted(TaskSlot(a.task), engine: engine, at: received) }
                s.picker.handedBack += 1
                next = a
            }
            return fx
        }
        perform(fx)
        return next
    }

    /// The finished (or settled) task's bookkeeping under the lock: the engine's slot, the retry or the finish.
    private func settleLocked(
        _ s: inout State, _ fx: inout Effects, _ engine: EngineID, _ slot: TaskSlot, _ pos: Int, _ outcome: TaskOutcome,
        received: Timestamp, free: Bool
    ) {
        if free {
            let cost = s.tasks.work(slot).hwmCost(hwm: s.engines[engine].hwm)
            let batch = s.tasks[batchOf: slot].id
            if let run = s.engines[engine].release(
                at: pos, cost: cost, completed: outcome.completed.microseconds, status: outcome.status, batch: batch)
            {
                // The slot's own timeline took it in `release` (one slot change); the aggregated lanes here.
                s.laneRings.record(engine: engine, from: run.from, to: run.to, status: outcome.status, batch: batch)
            }
        }
        let mine = s.tasks[slot].isAssigned(to: engine) && !s.tasks[slot].status.isFinished
        if mine {
            if outcome.status == .ok { s.engines[engine].done += 1 } else { s.engines[engine].failed += 1 }
            let retryable = outcome.status == .error || outcome.status == .timeout
            if retryable && s.retriesLeft(slot) {
                s.retryElsewhere(slot, failedOn: engine)
            } else {
                s.finish(slot, outcome: outcome, received: received, fx: &fx)
            }
        }
        if s.engines[engine].draining && s.engines[engine].assigned.isEmpty { s.markRemoved(engine) }
    }

    public func engineReady(_ engine: EngineID) {
        update { s, fx in
            guard s.engines.indices.contains(engine), s.engines[engine].alive, s.engines[engine].held else { return }
            s.engines[engine].held = false
            s.generation &+= 1
            s.dispatch(&fx)
        }
    }

    public func engineLeaving(_ engine: EngineID) {
        state.withLock { s in
            guard s.engines.indices.contains(engine), s.engines[engine].alive else { return }
            s.engines[engine].leaving = true
            s.generation &+= 1
        }
    }

    public func engineDied(_ engine: EngineID, reason: String, neverStarted: Set<TaskID>) {
        let now = clock.now()
        update { s, fx in
            guard s.engines.indices.contains(engine), s.engines[engine].alive else { return }
            s.engines[engine].alive = false
            s.engines[engine].deathReason = reason
            if s.engines[engine].busySince > 0 {
                s.engines[engine].addBusy(from: s.engines[engine].busySince, to: now.microseconds)
                if let running = s.engines[engine].current {
                    s.recordRun(engine,
                        from: s.engines[engine].busySince, to: now.microseconds, status: .error,
                        batch: s.tasks[batchOf: running].id)
                }
                s.engines[engine].busySince = 0
            }
            // The death first, then what it did to tasks: a journal and the CLI tell the cause before the effects.
            s.emit(.engineDied(engine, reason: reason))
            let host = s.engines[engine].info.host
            let held = s.engines[engine].assigned
            let running = s.engines[engine].current
            s.engines[engine].assigned = []
            s.engines[engine].load = 0
            s.engines[engine].current = nil
            let orphans = s.queues.unpinAll(engine)
            var requeued: [TaskSlot] = []
            // No engine left to retry on: a task that may have run fails with this death as its error.
            let lastOne = !s.waitsForEngines && s.aliveIDs.isEmpty
            for slot in held where !s.tasks[slot].status.isFinished && s.tasks[slot].isAssigned(to: engine) {
                if slot != running && neverStarted.contains(slot.id) && s.pinnedTarget(slot) == nil {
                    // Only queued there: it goes back as it was, no error and no retry spent.
                    s.tasks[slot].engine = nil
                    s.noteChange(slot)
                    requeued.append(slot)
                } else if !lastOne && s.retriesLeft(slot) && s.pinnedTarget(slot) == nil {
                    s.retryElsewhere(slot, failedOn: engine)
                } else {
                    let what =
                        slot == running
                        ? "while running task \(slot.id)"
                        : neverStarted.contains(slot.id)
                            ? "before starting task \(slot.id), which was pinned to it"
                            : "with task \(slot.id) sent to it (it may have started)"
                    s.failTask(slot, status: .error, error: "engine \(engine) (\(host)) died: \(reason) \(what)", fx: &fx, now: now)
                }
            }
            // Back in front of the queue, in the order they were sent.
            for slot in requeued.reversed() { s.queues.constrainFirst(slot) }
            for slot in orphans where s.isDispatchable(slot) {
                s.failTask(slot, status: .error, error: "engine \(engine) (\(host)) died: \(reason); task \(slot.id) was pinned to it", fx: &fx, now: now)
            }
            s.generation &+= 1
            s.failIfNoEngineLeft(fx: &fx, now: now)
        }
    }
}
