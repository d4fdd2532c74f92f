import Dispatch
import NIOCore
import NIOPosix
import PPSystem
import Synchronization

/// An engine in another process: a `ppdash engine` worker on this host (`proc`), over ssh (`ssh`), or one that
/// connected in (`connected`), all spoken to with the wire protocol.
///
/// It joins the scheduler once the worker's hello is in (so its host, pid and cores are the worker's own) and dies
/// with the cause named: the worker's exit ("killed by signal 9", "ssh exited 255: ..."), its silence
/// ("missed 5 heartbeats"), refused bytes ("protocol error: ...") or "connection closed".
public final class RemoteEngine: Engine, WireLinkDelegate {
    public let highWaterMark: Int
    let kind: EngineKind
    let outbox: WireOutbox
    let process: WorkerProcess?
    /// Seconds between heartbeats; 5 missed (no frame at all for 5 intervals) and the engine is dead.
    let heartbeat: Double
    let log: @Sendable (String) -> Void
    /// Heartbeat ticks of ours in a row with no frame from the worker (see `beat`).
    private let silence = HeartbeatSilence()
    private let state: Mutex<State>

    /// Heartbeats a worker may miss before its engine is declared dead.
    public static let missedHeartbeatLimit = 5

    /// How the hello is checked and what happens then.
    struct Admission: Sendable {
        /// The token a connecting worker must prove (nil over stdio).
        var token: EngineToken?
        /// Instead of one token: any of a keyring's, each admitting one worker (its tag then names the worker).
        var keyring: EngineKeyring?
        var challenge: [UInt8] = []
        /// Called once, on the event loop, when the worker is welcome.
        var accepted: @Sendable (RemoteEngine) -> Void
        /// Called once if the link ends before that, with the reason.
        var refused: @Sendable (String) -> Void
    }

    /// The meters the worker sent last (`load` frames, with its heartbeats).
    private let lastLoad = Mutex<EngineMeters?>(nil)

    public func reportedMeters() -> EngineMeters? { lastLoad.withLock { $0 } }

    private struct State {
        var info: EngineInfo
        var admission: Admission?
        var id: EngineID = -1
        var sink: (any EngineSink)?
        /// Tasks sent and not reported finished, in the order sent (the worker runs them in that order, one at a time).
        var outstanding: [Int64] = []
        /// Outstanding tasks the worker said it started.
        var started = Set<Int64>()
        /// Process groups of running shell tasks (kept for `proc` only: same host, so they can be killed here).
        var groups: [Int64: Int32] = [:]
        /// The worker said bye on its own (a signal stopped it): why. Queued tasks it hands back are in `returned`.
        var leaving: String?
        /// Outstanding tasks a leaving worker reported as never run: they go back to the queue when it is gone.
        var returned = Set<Int64>()
        var stopping = false
        /// How each outstanding shell task's output is kept, and its output so far (from `output` frames).
        var plans: [Int64: RemoteOutputPlan] = [:]
        var live: [Int64: LiveOutput] = [:]
        /// The decisive reason, when the link is cut for one.
        var failure: String?
        /// The keyring tag whose token the worker proved (see `Admission.keyring`).
        var keyTag: String?
        var closed = false
        var reported = false
        var timer: RepeatedTask?
    }

    init(
        kind: EngineKind, host: String, channel: any Channel, process: WorkerProcess?, highWaterMark: Int,
        heartbeat: Double, admission: Admission, log: @escaping @Sendable (String) -> Void
    ) {
        self.kind = kind
        self.highWaterMark = highWaterMark
        self.outbox = WireOutbox(channel: channel)
        self.process = process
        self.heartbeat = heartbeat
        self.log = log
        self.state = Mutex(
            State(info: EngineInfo(kind: kind, host: host, pid: process?.child.pid ?? 0, cores: 0), admission: admission))
    }

    public var info: EngineInfo { state.withLock { $0.info } }

    /// The keyring tag whose token the worker proved, once admitted through a keyring.
    public var keyTag: String? { state.withLock { $0.keyTag } }

    /// True until the hello is in (or the link is gone).
    var isAwaitingHello: Bool { state.withLock { $0.admission != nil && !$0.closed } }

    // MARK: Engine

    public func start(id: EngineID, sink: any EngineSink) {
        let closed = state.withLock { s -> Bool in
            s.id = id
            s.sink = sink
            return s.closed
        }
        if closed {
            report()
            return
        }
        startBeating()
    }

    /// Starts the heartbeat (once): from the welcome on, not from adoption, so a worker welcomed early hears from
    /// us while the launch still starts its siblings (256 workers on 2 cores took longer than its 10 beats).
    private func startBeating() {
        let interval = TimeAmount.nanoseconds(Int64(heartbeat * 1e9))
        state.withLock { s in
            guard s.timer == nil, !s.closed else { return }
            s.timer = outbox.channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) {
                [weak self] task in
                guard let self else { return task.cancel() }
                self.beat()
            }
        }
    }

    public func run(_ a: Assignment) {
        let work: WireRun.Work
        switch a.work {
        case .shell(let t): work = .shell(command: t.command(slot: a.slot))
        case .builtin(let b): work = .builtin(b)
        case .blocking, .async:
            let (id, sink) = state.withLock { ($0.id, $0.sink) }
            let now = SystemClock().now()
            sink?.engineFinished(
                id, task: a.task,
                outcome: TaskOutcome(
                    status: .error, error: "a Swift closure cannot run in a worker process; use local engines",
                    started: now, completed: now))
            return
        }
        let env = a.environment.sorted { $0.key < $1.key }.map { WireVariable(name: $0.key, value: $0.value) }
        let message = WireMessage.run(
            WireRun(
                task: Int64(a.task.rawValue), work: work, runTimeLimit: a.runTimeLimit, maxOutput: Int64(a.maxOutput),
                slot: Int32(clamping: a.slot), workingDirectory: a.workingDirectory, environment: env,
                // Only a worker on this host shares our file system.
                // The worker spools nothing: its output comes here as it is made, and is kept and spooled here.
                spoolDirectory: nil))
        let plan: RemoteOutputPlan? = a.work.isShell ? RemoteOutputPlan(a) : nil
        // Recorded and queued in one hold, so `outstanding` is in the order the worker receives (and runs) them.
        state.withLock { s in
            s.outstanding.append(Int64(a.task.rawValue))
            s.plans[Int64(a.task.rawValue)] = plan
            s.live[Int64(a.task.rawValue)] = nil
            outbox.send(message)
        }
    }

    public func liveOutput(_ task: TaskID) -> LiveOutput? {
        state.withLock { $0.live[Int64(task.rawValue)] }
    }

    /// The capture of an outstanding shell task's output, made at its first sign of life.
    private func capture(_ task: Int64) -> LiveOutput? {
        state.withLock { s in
            if let l = s.live[task] { return l }
            guard let plan = s.plans[task], s.outstanding.contains(task) else { return nil }
            let l = plan.makeLive()
            s.live[task] = l
            return l
        }
    }

    public func cancel(_ task: TaskID, reason: CancelReason) {
        outbox.send(.cancel(task: Int64(task.rawValue), reason: reason))
    }

    public func shutdown(graceful: Bool) {
        let already = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return s.stopping || s.closed
        }
        if already { return }
        outbox.send(.bye(reason: graceful ? "engine removed" : "scheduler stopping", graceful: graceful))
        if !graceful {
            // The worker stops its task and leaves (`Timings.workerLeave`); past that it is stopped here.
            outbox.channel.eventLoop.scheduleTask(in: .nanoseconds(Timings.nanoseconds(Timings.workerLeave)!)) {
                [self] in
                if !state.withLock({ $0.closed }) {
                    process?.child.send(signal: SIGKILL)
                    outbox.close()
                }
            }
        }
    }

    // MARK: link

    func linkReceived(_ message: WireMessage) {
        silence.heard()
        switch message {
        case .hello(let hello):
            admit(hello)
        case .started(let task, let at, let group):
            let (id, sink) = state.withLock { s -> (EngineID, (any EngineSink)?) in
                if group > 0 && kind == .proc && s.outstanding.contains(task) { s.groups[task] = group }
                // Only tasks sent to it: a worker naming others grows nothing here.
                if s.outstanding.contains(task) { s.started.insert(task) }
                return (s.id, s.sink)
            }
            // Its output is readable (the detail view: empty so far) from now on.
            _ = capture(task)
            sink?.engineStarted(
                id, task: TaskID(Int(task)), at: Timestamp(microseconds: at), processGroup: group > 0 ? group : nil)
        case .output(let task, let stream, let bytes):
            // Only tasks sent to it and not yet reported: a worker naming others grows nothing here.
            guard let live = capture(task) else { return }
            bytes.withUnsafeBytes { live.append(stream: Int(stream), $0) }
        case .result(let r):
            typealias Taken = (EngineID, (any EngineSink)?, String?, RemoteOutputPlan?, LiveOutput?)
            let (id, sink, leaving, plan, live) = state.withLock { s -> Taken in
                let leaving = s.stopping ? nil : s.leaving
                if leaving != nil && !r.settledOnly && r.status == .aborted && !s.started.contains(r.task) {
                    // Handed back unrun by a worker that is leaving: it stays outstanding and goes back to the
                    // queue when the worker is gone (no error, no retry spent).
                    s.returned.insert(r.task)
                    return (s.id, nil, nil, nil, nil)
                }
                let plan = s.plans[r.task]
                let live = s.live[r.task]
                if !r.settledOnly {
                    if let i = s.outstanding.firstIndex(of: r.task) { s.outstanding.remove(at: i) }
                    s.started.remove(r.task)
                    s.groups.removeValue(forKey: r.task)
                    s.plans.removeValue(forKey: r.task)
                    s.live.removeValue(forKey: r.task)
                }
                return (s.id, s.sink, leaving, plan, live)
            }
            guard let sink else {
                _ = live?.finish()
                return
            }
            var outcome = Self.outcome(of: r)
            if plan != nil {
                // A shell task: its output is what its `output` frames brought (a result's own bytes are not used).
                Self.useOutput(live ?? plan!.makeLive(), final: !r.settledOnly, in: &outcome)
            } else {
                // Spool files are only ever ours: a file named by a peer is never read.
                outcome.stdout.spool = nil
                outcome.stderr.spool = nil
            }
            if let leaving, outcome.status == .aborted {
                // Not aborted by the user: its worker stopped it on leaving. A failure, retried per --retries.
                outcome.status = .error
                outcome.error = "engine \(id) (\(info.host)) left (\(leaving)) while running task \(r.task)"
            }
            if r.settledOnly {
                sink.engineSettled(id, task: TaskID(Int(r.task)), outcome: outcome)
            } else {
                sink.engineFinished(id, task: TaskID(Int(r.task)), outcome: outcome)
            }
        case .heartbeat:
            break
        case .load(let l):
            lastLoad.withLock { $0 = l.meters }
        case .bye(let reason, _):
            let (id, sink) = state.withLock { s -> (EngineID, (any EngineSink)?) in
                if !s.stopping && s.failure == nil { s.failure = "the worker left: \(reason)" }
                guard !s.stopping && s.leaving == nil else { return (s.id, nil) }
                s.leaving = reason
                return (s.id, s.sink)
            }
            // It runs nothing more: no task is sent there to come back later.
            sink?.engineLeaving(id)
        case .challenge, .welcome, .run, .cancel:
            fail("protocol error: unexpected \(message.kind) message from the worker")
        }
    }

    func linkClosed(reason: String?) {
        let (admission, timer) = state.withLock { s -> (Admission?, RepeatedTask?) in
            s.closed = true
            if s.failure == nil, let reason { s.failure = reason }
            defer {
                s.admission = nil
                s.timer = nil
            }
            return (s.admission, s.timer)
        }
        timer?.cancel()
        if let admission {
            // Never joined: say why to whoever waits for it.
            let why = state.withLock { $0.failure }
            if let process {
                awaitExit(process) {
                    admission.refused(why ?? process.exitDescription ?? "the worker ended before its hello")
                }
            } else {
                admission.refused(why ?? "connection closed before the hello")
            }
            return
        }
        if let process {
            awaitExit(process) { self.report() }
        } else {
            report()
        }
    }

    /// Runs `body` once the process is reaped, or after `Timings.workerReap` if it is not.
    private func awaitExit(_ process: WorkerProcess, _ body: @escaping @Sendable () -> Void) {
        let once = Atomic<Bool>(false)
        let fire: @Sendable () -> Void = { if !once.exchange(true, ordering: .acquiringAndReleasing) { body() } }
        outbox.channel.eventLoop.scheduleTask(in: .nanoseconds(Timings.nanoseconds(Timings.workerReap)!)) { fire() }
        process.onExit { _ in fire() }
    }

    /// Checks the hello (and the token proof when connecting in), then welcomes the worker.
    private func admit(_ hello: WireHello) {
        guard let admission = state.withLock({ $0.admission }) else {
            return fail("protocol error: a second hello from the worker")
        }
        var proof: [UInt8] = []
        if let keyring = admission.keyring {
            guard let (tag, token) = keyring.take(proof: hello.proof, challenge: admission.challenge, workerNonce: hello.nonce)
            else {
                state.withLock { $0.failure = hello.proof.isEmpty ? "no token proof" : "wrong or used token" }
                outbox.sendThenClose(.bye(reason: "refused: the token proof does not match", graceful: false))
                return
            }
            state.withLock { $0.keyTag = tag }
            proof = token.schedulerProof(challenge: admission.challenge, workerNonce: hello.nonce)
        } else if let token = admission.token {
            guard token.verifyWorker(hello.proof, challenge: admission.challenge, workerNonce: hello.nonce) else {
                state.withLock { $0.failure = hello.proof.isEmpty ? "no token proof" : "wrong token" }
                outbox.sendThenClose(.bye(reason: "refused: the token proof does not match", graceful: false))
                return
            }
            proof = token.schedulerProof(challenge: admission.challenge, workerNonce: hello.nonce)
        }
        state.withLock { s in
            s.info = EngineInfo(kind: kind, host: hello.host, pid: hello.pid, cores: Int(hello.cores))
            s.admission = nil
        }
        outbox.send(.welcome(WireWelcome(heartbeatMillis: UInt32(clamping: Int(heartbeat * 1000)), proof: proof)))
        startBeating()
        admission.accepted(self)
    }

    /// Sends a heartbeat; declares the engine dead when the worker has been silent for `missedHeartbeatLimit` of
    /// our ticks in a row. Ticks, not wall time: a tick we ran late (this process starved of CPU) is one tick, so
    /// time in which we could not have heard anything is not held against the worker.
    private func beat() {
        outbox.send(.heartbeat)
        if silence.tick() >= Self.missedHeartbeatLimit {
            fail("missed \(Self.missedHeartbeatLimit) heartbeats")
        }
    }

    /// Cuts the link for `reason` and stops the worker process.
    func fail(_ reason: String) {
        let first = state.withLock { s -> Bool in
            guard s.failure == nil else { return false }
            s.failure = reason
            return true
        }
        if first && reason.hasPrefix("protocol error") { log("engine \(info.host) (pid \(info.pid)): \(reason)") }
        process?.child.send(signal: SIGKILL)
        outbox.close()
    }

    /// What the engine held when its link ended, taken once.
    private struct Remains {
        var id: EngineID
        var sink: any EngineSink
        var reason: String
        var groups: [Int64: Int32]
        var outstanding: [Int64]
        var started: Set<Int64>
        var returned: Set<Int64>
        var leaving: Bool
        var quiet: Bool
    }

    /// Tells the scheduler the engine is gone (once), unless it was stopped with nothing left to do. First, on this
    /// host, whatever the worker started is killed and seen gone, so a task retried elsewhere never runs twice.
    private func report() {
        let remains = state.withLock { s -> Remains? in
            guard !s.reported, let sink = s.sink else { return nil }
            s.reported = true
            // Their spool files are closed: a retry writes them afresh.
            for l in s.live.values { _ = l.finish() }
            s.live = [:]
            s.plans = [:]
            defer {
                s.groups = [:]
                s.outstanding = []
                s.started = []
                s.returned = []
            }
            return Remains(
                id: s.id, sink: sink, reason: s.failure ?? process?.exitDescription ?? "connection closed",
                groups: s.groups, outstanding: s.outstanding, started: s.started, returned: s.returned,
                leaving: s.leaving != nil, quiet: s.stopping && s.outstanding.isEmpty)
        }
        guard let remains else { return }
        // Killing and waiting may take a moment: not on an event loop.
        DispatchQueue.global().async { [self] in settle(remains) }
    }

    /// Kills what the dead worker left running (`proc`: its whole session), says which task ran, and reports.
    private func settle(_ r: Remains) {
        var groups = Set(r.groups.values)
        var found: [Int32] = []
        // The worker process (or ssh) is SIGKILLed first, if it is still there: a worker starts nothing more, and
        // an ssh link cut makes the remote worker stop its task (all that can be reached on another host).
        process?.child.send(signal: SIGKILL)
        if kind == .proc, let process {
            // A proc worker leads its own session and its tasks' groups stay in it: found even when the worker died
            // before its `started` frame reached us.
            // Once the worker is reaped its pid may be reused: a live process with that pid is someone else's, and
            // so would be a session of that number (then only the groups the worker named are killed).
            let sid = process.child.pid
            let reused = process.child.status != nil && SystemFacts.processExists(sid)
            found = reused ? [] : SystemFacts.groupsInSession(sid).filter { !groups.contains($0) }
            groups.formUnion(found)
        }
        let left = SystemFacts.killProcessGroups(Array(groups))
        if !left.isEmpty {
            log("ppdash: engine \(r.id) (\(info.host)): process groups \(left.map(String.init).joined(separator: ", ")) of its tasks are still there after SIGKILL")
        }
        if r.quiet { return }
        // One task at a time, in the order sent: only the first not known to be unrun may have begun unseen.
        var neverStarted = Set<TaskID>()
        var maybe: Int64?
        if let running = r.outstanding.first(where: { r.started.contains($0) }) {
            for t in r.outstanding where t != running { neverStarted.insert(TaskID(Int(t))) }
        } else {
            for t in r.outstanding {
                // A worker that said bye started nothing without saying so (its link ended after that).
                if r.returned.contains(t) || r.leaving || maybe != nil {
                    neverStarted.insert(TaskID(Int(t)))
                } else {
                    maybe = t
                }
            }
        }
        if let maybe, let group = found.first {
            // Its processes were there: it ran (its `started` frame was lost with the worker). Stamped now: /proc's
            // start time is coarse (whole-second boot time) and could fall before the task was submitted.
            r.sink.engineStarted(r.id, task: TaskID(Int(maybe)), at: SystemClock().now(), processGroup: group)
        }
        r.sink.engineDied(r.id, reason: r.reason, neverStarted: neverStarted)
    }

    /// Puts the output kept here into `outcome` (`final`: the task ended, its spool files are closed).
    static func useOutput(_ live: LiveOutput, final: Bool, in outcome: inout TaskOutcome) {
        var spoolError: String?
        if final {
            (outcome.stdout, outcome.stderr, spoolError) = live.finish()
        } else {
            (outcome.stdout, outcome.stderr) = live.snapshot()
        }
        if let r = outcome.value as? ShellResult {
            outcome.value = ShellResult(
                exitStatus: r.exitStatus, signal: r.signal, stdout: outcome.stdout, stderr: outcome.stderr)
        }
        // Output that could not be spooled is cut to head and tail: the reason goes with the task, as a local one's.
        if let s = spoolError {
            outcome.error = outcome.error.map { $0 + "; " + s } ?? ("output cut to head and tail: " + s)
        }
    }

    /// A wire result as the scheduler wants it.
    static func outcome(of r: WireResult) -> TaskOutcome {
        let value: (any Sendable)?
        switch r.value {
        case .none: value = nil
        case .integer: value = Int(truncatingIfNeeded: r.integer)
        case .shell:
            value = ShellResult(
                exitStatus: r.exitStatus, signal: r.signal, stdout: r.stdout, stderr: r.stderr)
        }
        var outcome = TaskOutcome(
            status: r.status, value: value, error: r.error, stdout: r.stdout, stderr: r.stderr,
            exitStatus: r.exitStatus,
            signal: r.signal, started: Timestamp(microseconds: r.started),
            completed: Timestamp(microseconds: r.completed))
        outcome.usage = r.usage
        return outcome
    }
}
