import Synchronization

/// One engine that is one Slurm job: adopted as soon as the job is queued (held: it takes no task), ready once
/// the job's `ppdash engine --connect` worker proves its own token, dead with Slurm's reason when the job ends.
///
/// Tasks run on the connected worker's `RemoteEngine`, which reports to this engine (its sink) under this engine's
/// id: everything passes through, except its death, whose reason is the job's ending as Slurm tells it (time
/// limit, scancel, node failure, preemption) rather than "connection closed".
final class SlurmEngine: Engine, EngineSink {
    let pool: SlurmPool
    /// The keyring tag of its token.
    let tag: String
    let jobID: String
    let highWaterMark: Int
    let info: EngineInfo
    private let state: Mutex<State>

    /// Polls after the worker's link ended that wait for Slurm to say how the job ended.
    static let pollsForReason = 3

    private struct State {
        var job: EngineJob
        var id: EngineID = -1
        var sink: (any EngineSink)?
        var remote: RemoteEngine?
        /// A worker that connected before the scheduler adopted this engine: started on adoption.
        var early: RemoteEngine?
        /// How the job ended, once Slurm said so.
        var ended: String?
        /// The worker's link ended: its reason and the tasks it knows never began.
        var linkLost: (reason: String, neverStarted: Set<TaskID>)?
        var pollsSinceLoss = 0
        /// Tasks handed over while no worker was there (never started).
        var parked: Set<TaskID> = []
        /// Taken out of service by the user (the dashboard's `-`): its job is cancelled.
        var removing = false
        /// The scheduler is stopping (a run's end, quit, a signal): the pool cancels the job.
        var stopping = false
        /// Its worker left by itself (a bye: Slurm's SIGTERM on scancel, a time limit, a node failure, preemption)
        /// or its link ended, before anyone here stopped it: its end is the job's, to be said with Slurm's reason.
        var endedByItself = false
        var reported = false
    }

    init(pool: SlurmPool, tag: String, jobID: String, highWaterMark: Int) {
        self.pool = pool
        self.tag = tag
        self.jobID = jobID
        self.highWaterMark = highWaterMark
        info = EngineInfo(kind: .slurm, host: "job \(jobID)", pid: 0, cores: 0)
        state = Mutex(State(job: EngineJob(id: jobID, state: "PENDING")))
    }

    var job: EngineJob? { state.withLock { $0.job } }

    /// Whether Slurm has the job still queued or running, as far as this ppdash knows (an engine stopped from here
    /// is dead to the scheduler while its job may still run: the pool cancels it).
    var isLive: Bool { state.withLock { $0.ended == nil } }

    // MARK: Engine

    func start(id: EngineID, sink: any EngineSink) {
        let (early, ended) = state.withLock { s -> (RemoteEngine?, String?) in
            s.id = id
            s.sink = sink
            defer { s.early = nil }
            return (s.early, s.ended)
        }
        if let ended { return report(ended, neverStarted: []) }  // the job ended before its engine was adopted
        if let early { attach(early) }
    }

    func run(_ assignment: Assignment) {
        let remote = state.withLock { s -> RemoteEngine? in
            if s.remote == nil { s.parked.insert(assignment.task) }
            return s.remote
        }
        remote?.run(assignment)
    }

    func cancel(_ task: TaskID, reason: CancelReason) {
        state.withLock { $0.remote }?.cancel(task, reason: reason)
    }

    /// Graceful (the user removed it): the worker finishes its task and leaves, a queued job is cancelled.
    /// Not graceful (the scheduler shuts down): every job of the pool is cancelled, in one call.
    func shutdown(graceful: Bool) {
        let remote = state.withLock { s -> RemoteEngine? in
            if graceful { s.removing = true } else { s.stopping = true }
            return s.remote
        }
        if graceful {
            if let remote { remote.shutdown(graceful: true) } else { cancelRemoved() }
        } else {
            // The pool first, while the workers still run: its last poll tells a job Slurm ended from one this
            // stop ends, and it cancels the jobs still queued or running.
            pool.close()
            remote?.shutdown(graceful: false)
        }
    }

    /// Cancels the job of an engine the user removed; it is then over for this ppdash (quitting does not cancel
    /// or count it again).
    private func cancelRemoved() {
        pool.cancel([self])
        state.withLock { if $0.ended == nil { $0.ended = "removed" } }
    }

    func liveOutput(_ task: TaskID) -> LiveOutput? { state.withLock { $0.remote }?.liveOutput(task) }

    /// What the job's connected worker last reported of its host and its task (none while queued).
    func reportedMeters() -> EngineMeters? { state.withLock { $0.remote }?.reportedMeters() }

    // MARK: the worker

    /// The job's worker proved this engine's token: it runs tasks from now on.
    func attach(_ remote: RemoteEngine) {
        enum Step { case early, refuse, go(EngineID, any EngineSink) }
        let step = state.withLock { s -> Step in
            if s.reported || s.removing || s.remote != nil { return .refuse }
            guard let sink = s.sink else {
                s.early = remote
                return .early
            }
            s.remote = remote
            s.job.connected = true
            return .go(s.id, sink)
        }
        switch step {
        case .early: return
        case .refuse: remote.shutdown(graceful: false)
        case .go(let id, let sink):
            remote.start(id: id, sink: self)
            let parked = state.withLock { s -> Set<TaskID> in
                defer { s.parked = [] }
                return s.parked
            }
            if !parked.isEmpty {
                // Handed over in the instant before the worker was in: given back, no retry spent.
                remote.shutdown(graceful: false)
                report("its worker connected while tasks were parked", neverStarted: parked)
                return
            }
            sink.engineReady(id)
        }
    }

    // MARK: EngineSink (the worker's RemoteEngine reports here)

    private var sink: (any EngineSink)? { state.withLock { $0.sink } }

    func engineStarted(_ engine: EngineID, task: TaskID, at: Timestamp, processGroup: Int32?) {
        sink?.engineStarted(engine, task: task, at: at, processGroup: processGroup)
    }

    func engineFinished(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        sink?.engineFinished(engine, task: task, outcome: outcome)
    }

    func engineSettled(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        sink?.engineSettled(engine, task: task, outcome: outcome)
    }

    func engineFinishedTakeNext(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) -> Assignment? {
        sink?.engineFinishedTakeNext(engine, task: task, outcome: outcome)
    }

    /// Its worker said bye by itself: its end will be the job's (a poll says how it ended).
    func engineLeaving(_ engine: EngineID) {
        let sink = state.withLock { s -> (any EngineSink)? in
            if !s.stopping && !s.removing { s.endedByItself = true }
            return s.sink
        }
        sink?.engineLeaving(engine)
    }

    func engineReady(_ engine: EngineID) {}

    /// The worker's link is gone. The engine takes no new task at once; its death waits (a few polls at most) for
    /// Slurm to say how the job ended, so the reason is the job's.
    func engineDied(_ engine: EngineID, reason: String, neverStarted: Set<TaskID>) {
        let (sink, ended, removing, stoppedHere) = state.withLock { s -> ((any EngineSink)?, String?, Bool, Bool) in
            s.remote = nil
            s.job.connected = false
            s.linkLost = (reason, neverStarted)
            if !s.stopping && !s.removing { s.endedByItself = true }
            return (s.sink, s.ended, s.removing, s.stopping && !s.endedByItself)
        }
        sink?.engineLeaving(engine)
        if let ended {
            report(ended, neverStarted: neverStarted)
        } else if removing || stoppedHere {
            // Stopped from here: no death to tell (the user removed it, or the pool cancels its job and says so).
            report("removed", neverStarted: neverStarted, jobEnded: removing)
            if removing { cancelRemoved() }
        } else {
            pool.pollSoon()
        }
    }

    // MARK: the queue

    /// What the latest `squeue` says of the job (nil: it is no longer in the queue).
    func update(_ polled: SlurmPool.Polled?, outputTail: @autoclosure () -> String?) {
        var ending: (String, Set<TaskID>)?
        let finalState = polled.map { SlurmPool.isFinal($0.state) } ?? true
        let needTail = state.withLock { s in finalState && s.ended == nil && s.remote == nil && s.linkLost == nil }
        let tail = needTail ? outputTail() : nil
        state.withLock { s in
            guard !s.reported else { return }
            if let p = polled {
                s.job.state = p.state
                s.job.reason = p.reason
                s.job.node = p.node ?? s.job.node
                s.job.timeLeft = p.state == "RUNNING" ? p.timeLeft : nil
            } else {
                s.job.state = "GONE"
            }
            if finalState && s.ended == nil {
                s.ended = SlurmPool.describeEnd(job: jobID, polled: polled, connectedBefore: s.linkLost != nil || s.remote != nil, outputTail: tail)
            }
            if let lost = s.linkLost {
                s.pollsSinceLoss += 1
                if let ended = s.ended {
                    ending = (ended, lost.neverStarted)
                } else if s.pollsSinceLoss >= Self.pollsForReason {
                    ending = (unnamedEnd(lost.reason, s.job.state), lost.neverStarted)
                }
            } else if s.remote == nil, let ended = s.ended {
                ending = (ended, [])
            }
        }
        if let (why, never) = ending { report(why, neverStarted: never) }
    }

    /// The scheduler stops: what happens to the job from now on is this ppdash's doing.
    func markStopping() { state.withLock { $0.stopping = true } }

    /// Its worker left by itself and its death still waits for Slurm to say how the job ended.
    var awaitsReason: Bool { state.withLock { !$0.reported && $0.ended == nil && $0.endedByItself } }

    /// The pool closes, so the engine's death can wait no longer: a job Slurm ended dies with Slurm's reason (its
    /// worker may still be going), a worker that left by itself with its link's reason and the job's last known
    /// state. An engine stopped from here, or whose job is still queued or running, is untouched: the pool
    /// cancels its job and says so.
    func endNow() {
        let ending = state.withLock { s -> (String, Set<TaskID>)? in
            guard !s.reported else { return nil }
            let never = s.linkLost?.neverStarted ?? []
            // (Called at close: `stopping` is set.) A job that completed after this ppdash stopped its worker ended
            // as asked: nothing to tell.
            if let ended = s.ended, s.endedByItself || s.job.state != "COMPLETED" { return (ended, never) }
            guard s.endedByItself else { return nil }
            return (unnamedEnd(s.linkLost?.reason ?? "its worker left", s.job.state), never)
        }
        if let (why, never) = ending { report(why, neverStarted: never) }
    }

    /// The end of an engine whose link ended while Slurm has not (yet) said the job ended.
    private func unnamedEnd(_ linkReason: String, _ jobState: String) -> String {
        "\(linkReason) (Slurm job \(jobID) still \(jobState))"
    }

    /// Tells the scheduler the engine is dead, once. `jobEnded`: its job is over for this ppdash (false: the pool
    /// still cancels it when it closes).
    private func report(_ reason: String, neverStarted: Set<TaskID>, jobEnded: Bool = true) {
        let target = state.withLock { s -> (EngineID, any EngineSink, Set<TaskID>)? in
            guard !s.reported, let sink = s.sink else { return nil }
            s.reported = true
            if s.ended == nil && jobEnded { s.ended = reason }
            defer { s.parked = [] }
            return (s.id, sink, neverStarted.union(s.parked))
        }
        if let (id, sink, never) = target { sink.engineDied(id, reason: reason, neverStarted: never) }
    }
}
