import DequeModule
import Dispatch
import Foundation
import PPSystem
import Synchronization

/// An engine that is one dedicated thread of this process (not the Swift concurrency pool: blocking tasks must not
/// starve it). Runs closures, built-ins and shell commands.
public final class InProcessEngine: Engine {
    public let info: EngineInfo
    public let highWaterMark: Int
    private let clock: any PPClock
    private let mailbox = Mutex(Mailbox())
    private let wake = DispatchSemaphore(value: 0)

    struct Mailbox {
        var queue = Deque<Assignment>()
        var cancelled = Set<TaskID>()
        var current: TaskID?
        /// The task it just finished: a cancel for it arrived too late and must not linger for a later retry.
        var lastFinished: TaskID?
        /// Counts runs, so a run-time timer of an earlier run never fires on a retry of the same task.
        var runSerial = 0
        var currentCancel: ShellCancel?
        /// The running shell task's output so far.
        var currentLive: LiveOutput?
        var currentReason: CancelReason?
        var stopping = false
        /// Shut down without grace: a task still queued (or handed back with a finish) is reported aborted, never
        /// started, however the running one ends (a leaving worker hands its queued tasks back unrun).
        var abandoned = false
        var id: EngineID = -1
        var sink: (any EngineSink)?

        /// Takes `a` up as the running task; true when it was cancelled before it ran (it is reported aborted).
        mutating func begin(_ a: Assignment) -> Bool {
            // An empty set is not hashed into.
            if !cancelled.isEmpty && cancelled.remove(a.task) != nil { return true }
            // Shut down without grace: nothing more starts (a leaving worker hands its queued tasks back unrun).
            if abandoned { return true }
            current = a.task
            lastFinished = nil
            runSerial += 1
            currentReason = nil
            currentCancel = a.work.isShell ? ShellCancel() : nil
            return false
        }
    }

    /// An engine with the given high-water mark (1, as ipyparallel's default).
    public init(highWaterMark: Int = 1, clock: any PPClock = SystemClock()) {
        self.highWaterMark = highWaterMark
        self.clock = clock
        self.info = EngineInfo(kind: .local, host: hostName(), pid: getpid(), cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    public func start(id: EngineID, sink: any EngineSink) {
        mailbox.withLock {
            $0.id = id
            $0.sink = sink
        }
        let thread = Thread { [self] in self.loop() }
        thread.name = "ppdash-engine-\(id)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    public func run(_ assignment: Assignment) {
        mailbox.withLock { $0.queue.append(assignment) }
        wake.signal()
    }

    public func cancel(_ task: TaskID, reason: CancelReason) {
        let shell: ShellCancel? = mailbox.withLock { m in
            if m.current == task {
                m.currentReason = reason
                return m.currentCancel
            }
            if m.lastFinished != task { m.cancelled.insert(task) }
            return nil
        }
        shell?.fire()
    }

    public func liveOutput(_ task: TaskID) -> LiveOutput? {
        mailbox.withLock { $0.current == task ? $0.currentLive : nil }
    }

    public func shutdown(graceful: Bool) {
        let shell: ShellCancel? = mailbox.withLock { m in
            m.stopping = true
            if !graceful {
                m.abandoned = true
                m.currentReason = .aborted
                return m.currentCancel
            }
            return nil
        }
        shell?.fire()
        wake.signal()
    }

    private func loop() {
        blockAllSignalsInThisThread()
        // Set by `start` before this thread began, never changed: read once (a copy of the sink per task retained it
        // and copied its existential box).
        let (engine, sink) = mailbox.withLock { ($0.id, $0.sink) }
        guard let sink else { return }
        // The next task handed back by the scheduler as this one finished: run with no wake-up.
        var carried: Assignment?
        while true {
            let a: Assignment
            let preStarted: Bool
            let cancelled: Bool
            if let c = carried.take() {
                // Started by the scheduler as it handed it back (a shell task reports its own start).
                preStarted = !c.work.isShell
                cancelled = mailbox.withLock { $0.begin(c) }
                a = c
            } else {
                waitForWork()
                // Nil: nothing queued (stopping or not, read in the same hold).
                let (taken, stopping): ((Assignment, Bool)?, Bool) = mailbox.withLock { m in
                    guard let q = m.queue.popFirst() else { return (nil, m.stopping) }
                    return ((q, m.begin(q)), m.stopping)
                }
                guard let taken else {
                    if stopping { return }
                    continue
                }
                (a, cancelled) = taken
                preStarted = false
            }
            if cancelled {
                let now = clock.now()
                carried = sink.engineFinishedTakeNext(
                    engine, task: a.task,
                    outcome: TaskOutcome(status: .aborted, error: "aborted before it ran", started: now, completed: now))
                continue
            }
            let outcome = execute(a, engine: engine, sink: sink, preStarted: preStarted)
            mailbox.withLock { m in
                m.current = nil
                m.currentLive = nil
                m.lastFinished = a.task
                m.currentCancel = nil
            }
            carried = sink.engineFinishedTakeNext(engine, task: a.task, outcome: outcome)
            if carried == nil && mailbox.withLock({ $0.stopping && $0.queue.isEmpty }) { return }
        }
    }

    /// Waits for `run`. (A yielding spin here was measured: with more engines than cores it slowed hand-offs.)
    private func waitForWork() {
        wake.wait()
    }

    private func execute(_ a: Assignment, engine: EngineID, sink: any EngineSink, preStarted: Bool) -> TaskOutcome {
        switch a.work {
        case .shell(let task):
            let cancel = mailbox.withLock { $0.currentCancel }
            // Stamped before the spawn: the child may run before the spawn returns to us.
            let startedAt = clock.now()
            let out = ShellRunner.run(
                task.command(slot: a.slot), workingDirectory: a.workingDirectory, environment: a.environment,
                limits: ShellLimits(
                    runTimeLimit: a.runTimeLimit, maxOutput: a.maxOutput,
                    spool: a.spoolDirectory.map { $0 + "/" + a.task.description }),
                cancel: cancel, clock: clock,
                onSpawn: { pid in sink.engineStarted(engine, task: a.task, at: startedAt, processGroup: pid) },
                onOutput: { live in
                    if let tap = a.outputTap { live.setTap { tap.body(a.task, $0, $1) } }
                    mailbox.withLock { $0.currentLive = live }
                })
            if out.pid == 0 { sink.engineStarted(engine, task: a.task, at: out.started, processGroup: nil) }
            var outcome = Self.outcome(of: out)
            // Stopped by `Scheduler.timeOut` (a limit decided while it ran): timed out, not aborted.
            if out.cancelled && mailbox.withLock({ $0.currentReason }) == .runTimeLimit {
                outcome.status = .timeout
                outcome.error = "run-time limit exceeded"
            }
            return outcome
        case .builtin(let b):
            let start = clock.now()
            if !preStarted { sink.engineStarted(engine, task: a.task, at: start, processGroup: nil) }
            switch b {
            case .noop:
                return TaskOutcome(status: .ok, value: 0, started: start, completed: clock.now())
            case .sleepSquare(let x, let seconds):
                return runWatched(a, start: start) {
                    Timings.sleep(seconds)
                    let (square, overflow) = x.multipliedReportingOverflow(by: x)
                    if overflow { throw PPError(.invalidArgument, "f(\(x)) = x*x does not fit in 64 bits") }
                    return square
                }
            }
        case .blocking(let f):
            let start = clock.now()
            if !preStarted { sink.engineStarted(engine, task: a.task, at: start, processGroup: nil) }
            return runWatched(a, start: start, f)
        case .async(let f):
            let start = clock.now()
            if !preStarted { sink.engineStarted(engine, task: a.task, at: start, processGroup: nil) }
            let box = Mutex<Result<any Sendable, any Error>?>(nil)
            let done = DispatchSemaphore(value: 0)
            let handle = Task {
                let r: Result<any Sendable, any Error>
                do { r = .success(try await f()) } catch { r = .failure(error) }
                box.withLock { $0 = r }
                done.signal()
            }
            // Wait, waking for aborts and the run-time limit: those cancel the Swift task.
            let deadline = a.runTimeLimit.flatMap(Timings.nanoseconds).map { clock.monotonicNanoseconds() &+ $0 }
            var status: TaskStatus?
            while done.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
                if let reason = mailbox.withLock({ $0.currentReason }) {
                    status = reason == .aborted ? .aborted : .timeout
                    handle.cancel()
                    break
                }
                if let deadline, clock.monotonicNanoseconds() >= deadline {
                    status = .timeout
                    handle.cancel()
                    break
                }
            }
            let end = clock.now()
            if let status {
                let msg = status == .timeout ? "run-time limit of \(formatSeconds(a.runTimeLimit ?? 0)) s exceeded" : "aborted while running"
                return TaskOutcome(status: status, error: msg, started: start, completed: end)
            }
            switch box.withLock({ $0 })! {
            case .success(let v): return TaskOutcome(status: .ok, value: v, started: start, completed: end)
            case .failure(let e): return TaskOutcome(status: .error, error: describe(e), started: start, completed: end)
            }
        }
    }

    /// Runs a blocking body; a run-time limit is reported when it is exceeded (the thread cannot be stopped, so the
    /// late result is discarded).
    private func runWatched(_ a: Assignment, start: Timestamp, _ body: @Sendable () throws -> any Sendable) -> TaskOutcome {
        if let limit = a.runTimeLimit {
            let (engine, sink, serial) = mailbox.withLock { ($0.id, $0.sink, $0.runSerial) }
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(Timings.nanoseconds(limit) ?? 0))) { [self] in
                guard mailbox.withLock({ $0.current == a.task && $0.runSerial == serial }), let sink else { return }
                sink.engineSettled(engine, task: a.task, outcome: TaskOutcome(status: .timeout, error: "run-time limit of \(formatSeconds(limit)) s exceeded; the closure cannot be stopped and still occupies engine \(engine)", started: start, completed: clock.now()))
            }
        }
        let result: Result<any Sendable, any Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        let end = clock.now()
        if let reason = mailbox.withLock({ $0.currentReason }) {
            let status: TaskStatus = reason == .aborted ? .aborted : .timeout
            return TaskOutcome(status: status, error: status == .aborted ? "aborted while running" : "run-time limit exceeded", started: start, completed: end)
        }
        if let limit = a.runTimeLimit, start.seconds(to: end) > limit {
            return TaskOutcome(status: .timeout, error: "run-time limit of \(formatSeconds(limit)) s exceeded (ran \(String(format: "%.3f", start.seconds(to: end))) s)", started: start, completed: end)
        }
        switch result {
        case .success(let v): return TaskOutcome(status: .ok, value: v, started: start, completed: end)
        case .failure(let e): return TaskOutcome(status: .error, error: describe(e), started: start, completed: end)
        }
    }

    /// Maps a shell run to a task outcome.
    static func outcome(of out: ShellOutcome) -> TaskOutcome {
        let status: TaskStatus
        var error: String?
        if let spawn = out.spawnError {
            status = .error
            error = spawn
        } else if out.cancelled {
            status = .aborted
            error = "aborted while running"
        } else if out.timedOut {
            status = .timeout
            error = "run-time limit exceeded"
        } else if let sig = out.signal {
            status = .error
            error = "killed by signal \(sig)"
        } else if let code = out.exitStatus, code != 0 {
            status = .error
            error = "exit status \(code)"
        } else {
            status = .ok
        }
        // Output that could not be spooled is cut to head and tail: the reason goes with the task, even an ok one.
        if let s = out.spoolError { error = error.map { $0 + "; " + s } ?? ("output cut to head and tail: " + s) }
        let value = ShellResult(exitStatus: out.exitStatus, signal: out.signal, stdout: out.stdout, stderr: out.stderr)
        var outcome = TaskOutcome(
            status: status, value: value, error: error, stdout: out.stdout, stderr: out.stderr, exitStatus: out.exitStatus,
            signal: out.signal, started: out.started, completed: out.completed)
        outcome.usage = out.usage
        return outcome
    }
}

/// A readable one-line description of a thrown error.
func describe(_ error: any Error) -> String {
    let text = String(describing: error)
    let type = String(describing: Swift.type(of: error))
    return text.hasPrefix(type) ? text : "\(type): \(text)"
}

/// This host's name.
public func hostName() -> String { SystemFacts.hostName }
