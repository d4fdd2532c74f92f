import Dispatch
import Foundation
import NIOCore
import NIOPosix
import PPSystem
import Synchronization

/// Settings of a `ppdash engine` worker.
public struct EngineWorkerOptions: Sendable {
    /// Run every shell task here (`--workdir`); nil: the submitting directory where it exists on this host, else
    /// the worker's own.
    public var workingDirectory: String?
    /// Seconds `--connect` keeps retrying a refused connection (the scheduler may not be listening yet).
    public var connectTimeout: Double = 30
    /// Where the worker says what went wrong (stderr).
    public var log: @Sendable (String) -> Void = { _ in }
    /// The caller's catcher (`ppdash engine`: SIGTERM, SIGINT and SIGHUP): a signal it catches stops the running
    /// task and the worker. Catching is process-wide, so the program decides; the worker never installs one.
    public var stopSignals: SignalCatcher?
    /// Whether the worker listens to `stopSignals` (off for a worker inside a test process).
    public var handlesSignals = true
    public init() {}
}

/// The worker side of the wire protocol: an in-process engine (shell tasks and built-ins, exactly as local
/// engines run them) fed by a link to the scheduler. `ppdash engine` is this and nothing else.
public enum EngineWorker {
    /// Heartbeats from the scheduler a worker may miss before it stops (more than the scheduler allows a worker).
    public static let missedHeartbeatLimit = 10

    /// Serves on stdin/stdout until the input ends; returns the exit status.
    public static func serveStdio(options: EngineWorkerOptions) -> Int32 {
        // Keep the protocol's descriptors away from 0 and 1, so a stray print cannot corrupt a frame.
        let input: Int32
        let output: Int32
        do throws(Errno) {
            (input, output) = (try OwnedDescriptor.duplicate(0).release(), try OwnedDescriptor.duplicate(1).release())
        } catch {
            options.log("ppdash engine: cannot use stdin/stdout: \(SystemFacts.errorText(error.rawValue))")
            return 1
        }
        if let null = try? OwnedDescriptor.open("/dev/null", .readWrite) {
            try? null.duplicate(onto: 0)
            try? OwnedDescriptor.redirect(2, onto: 1)
        }
        let session = WorkerSession(token: nil, peer: "the scheduler", options: options)
        do {
            let channel = try NIOPipeBootstrap(group: WorkerLoop.group)
                .channelInitializer { EngineWorker.addLinkHandlers(to: $0) }
                .takingOwnershipOfDescriptors(input: input, output: output).wait()
            session.begin(channel)
        } catch {
            options.log(
                "ppdash engine: cannot serve on stdin/stdout (\(Messages.text(of: error))): they must be pipes or sockets; ppdash -e proc:N and ssh engines start it so"
            )
            return 1
        }
        return session.waitForEnd()
    }

    /// Dials `host:port`, proves the token, serves until the link ends; returns the exit status.
    public static func serveConnected(host: String, port: Int, token: EngineToken, options: EngineWorkerOptions)
        -> Int32
    {
        let session = WorkerSession(token: token, peer: "the scheduler at \(host):\(port)", options: options)
        let deadline = SystemTime.monotonicNanoseconds() + Int64(options.connectTimeout * 1e9)
        var lastError = ""
        while true {
            do {
                let channel = try ClientBootstrap(group: WorkerLoop.group)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connectTimeout(.nanoseconds(Timings.nanoseconds(Timings.connectAttempt)!))
                    .channelInitializer { EngineWorker.addLinkHandlers(to: $0) }
                    .connect(host: host, port: port).wait()
                session.begin(channel)
                return session.waitForEnd()
            } catch {
                lastError = "\(error)"
                if SystemTime.monotonicNanoseconds() > deadline { break }
                // The pause between attempts ends early, and the worker with it, on a stop signal.
                guard let signals = options.handlesSignals ? options.stopSignals : nil else {
                    Timings.sleep(Timings.connectRetry)
                    continue
                }
                if let sig = signals.wait(milliseconds: Int32(Timings.connectRetry * 1000))?.number { return 128 + sig }
            }
        }
        options.log(
            "ppdash engine: cannot connect to \(host):\(port) within \(formatSeconds(options.connectTimeout)) s: \(lastError)"
        )
        return 1
    }
}

extension EngineWorker {
    /// The worker's end of a link, a channel's whole pipeline: frames in (up to `WireProtocol.maxFrame`), wire
    /// messages to the session. Every worker channel (stdio, connected) and the fork server's rehearsal of a start
    /// (`rehearseStart`) are set up by this one function, so the rehearsal plays exactly the worker's handlers.
    static func addLinkHandlers(to channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(WireFrameDecoder(limit: WireProtocol.maxFrame)))
            try channel.pipeline.syncOperations.addHandler(WireLinkHandler(delegate: nil))
        }
    }
}

/// One worker's link and engine.
final class WorkerSession: WireLinkDelegate, EngineSink {
    let token: EngineToken?
    let peer: String
    let options: EngineWorkerOptions
    let engine = InProcessEngine()
    /// Sends running tasks' output as it comes.
    let forwarder = OutputForwarder()
    /// Our heartbeat ticks in a row with nothing from the scheduler.
    private let silence = HeartbeatSilence()
    private let state = Mutex(State())
    private let ended = DispatchSemaphore(value: 0)

    private enum Phase {
        /// Connected in: waiting for the listener's challenge.
        case awaitingChallenge
        /// Hello sent: waiting for the welcome.
        case awaitingWelcome(challenge: [UInt8], nonce: [UInt8])
        case serving
        case leaving
        case done
    }

    private struct State {
        var phase: Phase = .awaitingChallenge
        var outbox: WireOutbox?
        var outstanding = Set<Int64>()
        /// The running task and its process group (0: no child process).
        var running: (task: Int64, group: Int32)?
        var timer: RepeatedTask?
        var exitCode: Int32 = 0
        /// Leaving lets the running task finish.
        var graceful = false
    }

    init(token: EngineToken?, peer: String, options: EngineWorkerOptions) {
        self.token = token
        self.peer = peer
        self.options = options
    }

    /// The link is up: over stdio say hello at once; connected in, wait for the challenge. Messages that came
    /// before this (the challenge may beat `connect` returning) were held by the link handler.
    func begin(_ channel: any Channel) {
        let outbox = WireOutbox(channel: channel)
        let stdio = token == nil
        state.withLock { s in
            s.outbox = outbox
            if stdio { s.phase = .awaitingWelcome(challenge: [], nonce: []) }
        }
        if stdio { outbox.send(.hello(hello(nonce: [], proof: []))) }
        channel.eventLoop.execute { [self] in
            do {
                try channel.pipeline.syncOperations.handler(type: WireLinkHandler.self).attach(self)
            } catch {
                // The link was gone before it could be watched (`: | ppdash engine --stdio`: input at its end from
                // the start, the pipeline already torn down): that is its end, said as any other.
                linkClosed(reason: nil)
            }
        }
        if options.handlesSignals, let signals = options.stopSignals { watch(signals) }
        if !stdio {
            // A server that accepts and says nothing is not a listener: give up as the listener gives up on a
            // silent worker.
            let limit = EngineListener.handshakeTimeout
            channel.eventLoop.scheduleTask(in: .seconds(limit)) { [self] in
                let waiting = state.withLock { s -> Bool in
                    switch s.phase {
                    case .awaitingChallenge, .awaitingWelcome: return true
                    default: return false
                    }
                }
                guard waiting else { return }
                options.log(
                    "ppdash engine: \(peer) did not complete the handshake within \(limit) s; is it a ppdash engine listener (ppdash run -e listen:PORT)?"
                )
                finish(code: 1, close: true)
            }
        }
    }

    /// Blocks until the session is over; the exit status.
    func waitForEnd() -> Int32 {
        ended.wait()
        return state.withLock { $0.exitCode }
    }

    private func hello(nonce: [UInt8], proof: [UInt8]) -> WireHello {
        let info = engine.info
        return WireHello(host: info.host, pid: info.pid, cores: Int32(info.cores), nonce: nonce, proof: proof)
    }

    // MARK: link

    func linkReceived(_ message: WireMessage) {
        silence.heard()
        let phase = state.withLock { $0.phase }
        switch (phase, message) {
        case (.awaitingChallenge, .challenge(let challenge)):
            guard let token else { return protocolError("a challenge over stdio") }
            let nonce = EngineToken.nonce()
            state.withLock { $0.phase = .awaitingWelcome(challenge: challenge, nonce: nonce) }
            send(.hello(hello(nonce: nonce, proof: token.workerProof(challenge: challenge, workerNonce: nonce))))
        case (.awaitingWelcome(let challenge, let nonce), .welcome(let w)):
            if let token, !token.verifyScheduler(w.proof, challenge: challenge, workerNonce: nonce) {
                options.log("ppdash engine: \(peer) did not prove it holds the token; not running its tasks")
                return finish(code: 1, close: true)
            }
            serve(heartbeat: max(0.01, Double(w.heartbeatMillis) / 1000))
        case (.awaitingChallenge, .bye(let reason, _)), (.awaitingWelcome, .bye(let reason, _)):
            options.log("ppdash engine: \(peer) refused this worker: \(reason)")
            finish(code: 1, close: true)
        case (.serving, .run(let r)):
            state.withLock { _ = $0.outstanding.insert(r.task) }
            engine.run(assignment(r))
        case (.serving, .cancel(let task, let reason)), (.leaving, .cancel(let task, let reason)):
            engine.cancel(TaskID(Int(task)), reason: reason)
        case (_, .heartbeat):
            break
        case (.serving, .bye(_, let graceful)):
            leave(graceful: graceful, code: 0)
        case (.leaving, _), (.done, _):
            break
        default:
            protocolError("unexpected \(message.kind) message")
        }
    }

    func linkClosed(reason: String?) {
        let phase = state.withLock { $0.phase }
        switch phase {
        case .awaitingChallenge, .awaitingWelcome:
            options.log(
                "ppdash engine: \(peer) closed the connection before welcoming this worker\(reason.map { " (\($0))" } ?? "")"
            )
            finish(code: 1, close: false)
        case .serving, .leaving:
            if let reason { options.log("ppdash engine: \(reason)") }
            leave(graceful: false, code: reason == nil ? 0 : 1)
        case .done:
            break
        }
    }

    private func protocolError(_ what: String) {
        options.log("ppdash engine: protocol error from \(peer): \(what)")
        leave(graceful: false, code: 1, announcing: "protocol error: \(what)")
        state.withLock { $0.outbox }?.close()
    }

    private func send(_ m: WireMessage) { state.withLock { $0.outbox }?.send(m) }

    /// Welcomed: start the engine and the heartbeat.
    private func serve(heartbeat: Double) {
        guard let outbox = state.withLock({ $0.outbox }) else { return }
        forwarder.attach(outbox)
        let meter = WorkerMeter()
        engine.start(id: 0, sink: self)
        // The host's load at once: a dashboard shows it from the start, not a heartbeat later.
        if let load = meter.reading(busy: false) { outbox.send(.load(load)) }
        let interval = TimeAmount.nanoseconds(Int64(heartbeat * 1e9))
        let timer = outbox.channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            outbox.send(.heartbeat)
            let busy = state.withLock { $0.running != nil || !$0.outstanding.isEmpty }
            if let load = meter.reading(busy: busy) { outbox.send(.load(load)) }
            // Our own ticks, not wall time: while this worker was starved of CPU the scheduler's frames waited to
            // be read, and time we could not have heard them in is not counted.
            if silence.tick() >= EngineWorker.missedHeartbeatLimit {
                options.log(
                    "ppdash engine: missed \(EngineWorker.missedHeartbeatLimit) heartbeats from \(peer); stopping")
                leave(graceful: false, code: 1, announcing: "missed \(EngineWorker.missedHeartbeatLimit) heartbeats")
                outbox.close()
            }
        }
        state.withLock { s in
            s.phase = .serving
            s.timer = timer
        }
    }

    /// The task as the local engine wants it: the command kept literal, the directory chosen for this host.
    private func assignment(_ r: WireRun) -> Assignment {
        let work: TaskWork
        switch r.work {
        case .shell(let command):
            work = .shell(ShellTask(template: Template(literal: command), args: [], seq: Int(r.task)))
        case .builtin(let b):
            work = .builtin(b)
        }
        var dir = options.workingDirectory
        if dir == nil, let wanted = r.workingDirectory {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: wanted, isDirectory: &isDir), isDir.boolValue { dir = wanted }
        }
        var env = [String: String]()
        for v in r.environment { env[v.name] = v.value }
        // The output goes to the scheduler as it comes (`output` frames), which keeps and spools it: nothing of it
        // is kept here, and the result carries none of it.
        let forwarder = self.forwarder
        return Assignment(
            task: TaskID(Int(r.task)), work: work, runTimeLimit: r.runTimeLimit, maxOutput: 0,
            spoolDirectory: nil, outputTap: OutputTap { task, stream, bytes in
                forwarder.add(task: Int64(task.rawValue), stream: stream, bytes)
            }, slot: Int(r.slot), workingDirectory: dir, environment: env)
    }

    // MARK: leaving

    /// Stops. `graceful` (the engine was removed): every task it holds runs to its end, as the scheduler expects.
    /// Otherwise queued tasks are dropped (reported aborted) and the running one is stopped; a second call that is
    /// not graceful (the link ended while draining) does that too.
    ///
    /// `announcing`: the worker leaves on its own (a signal, a silent or faulty scheduler) and says why first, so the
    /// scheduler takes the queued tasks handed back as unrun (back to its queue, no retry spent) and the running one,
    /// stopped here, as failed on this engine (retried per --retries), not as aborted by the user.
    private func leave(graceful: Bool, code: Int32, announcing: String? = nil) {
        if let announcing {
            let serving = state.withLock { s -> Bool in
                if case .serving = s.phase { return true }
                return false
            }
            if serving { send(.bye(reason: announcing, graceful: false)) }
        }
        let taken = state.withLock { s -> (Set<Int64>, (task: Int64, group: Int32)?, Bool)? in
            switch s.phase {
            case .done: return nil
            case .leaving where graceful || !s.graceful: return nil
            case .leaving: break
            default: s.exitCode = code
            }
            s.phase = .leaving
            s.graceful = graceful
            return (s.outstanding, s.running, s.outstanding.isEmpty)
        }
        guard let (outstanding, running, idle) = taken else { return }
        if idle { return finish(code: code, close: true) }
        // Without grace the engine starts nothing more first, then what it holds is stopped: a queued task never
        // starts in the moment between the running one's end and its own cancel (it would come back started and
        // be charged a retry, though it was only queued here).
        engine.shutdown(graceful: graceful)
        if !graceful {
            for t in outstanding { engine.cancel(TaskID(Int(t)), reason: .aborted) }
        }
        if graceful { return }
        // A built-in cannot be interrupted and has no child to clean up: go now. A shell task's group gets
        // SIGTERM, grace and SIGKILL from the runner; past `Timings.workerTaskStop` it is killed here.
        if let running, running.group == 0 {
            return finish(code: code, close: true)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + Timings.workerTaskStop) { [self] in
            if let g = state.withLock({ $0.running?.group }) { signalProcessGroup(g, SIGKILL) }
            finish(code: code, close: true)
        }
    }

    /// Ends the session once: says bye where the link is still up, and wakes `waitForEnd` once it is closed.
    private func finish(code: Int32, close: Bool) {
        let (outbox, timer, first) = state.withLock { s -> (WireOutbox?, RepeatedTask?, Bool) in
            if case .done = s.phase { return (nil, nil, false) }
            if case .leaving = s.phase {} else { s.exitCode = code }
            s.phase = .done
            defer { s.timer = nil }
            return (s.outbox, s.timer, true)
        }
        guard first else { return }
        timer?.cancel()
        guard let outbox else {
            ended.signal()
            return
        }
        if close { outbox.sendThenClose(.bye(reason: "worker stopping", graceful: false)) }
        let ended = self.ended
        outbox.channel.closeFuture.whenComplete { _ in ended.signal() }
    }

    /// Stops (as the scheduler's bye without grace would) on the first signal `signals` catches.
    private func watch(_ signals: SignalCatcher) {
        let thread = Thread { [self] in
            blockAllSignalsInThisThread()
            guard let sig = signals.wait(milliseconds: -1)?.number else { return }
            options.log("ppdash engine: stopping on signal \(sig)")
            leave(graceful: false, code: 128 + sig, announcing: "stopping on signal \(sig)")
        }
        thread.name = "ppdash-engine-signals"
        thread.stackSize = 128 << 10
        thread.start()
    }

    // MARK: EngineSink (called on the engine's thread)

    func engineStarted(_ engine: EngineID, task: TaskID, at: Timestamp, processGroup: Int32?) {
        let t = Int64(task.rawValue)
        state.withLock { $0.running = (t, processGroup ?? 0) }
        send(.started(task: t, at: at.microseconds, processGroup: processGroup ?? 0))
    }

    func engineFinished(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        let t = Int64(task.rawValue)
        let (leaving, code) = state.withLock { s -> (Bool, Int32) in
            s.outstanding.remove(t)
            if s.running?.task == t { s.running = nil }
            if case .leaving = s.phase { return (s.outstanding.isEmpty, s.exitCode) }
            return (false, 0)
        }
        // Its last output goes before its result.
        forwarder.flush()
        send(.result(Self.wire(t, outcome, settledOnly: false)))
        if leaving { finish(code: code, close: true) }
    }

    func engineSettled(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        forwarder.flush()
        send(.result(Self.wire(Int64(task.rawValue), outcome, settledOnly: true)))
    }

    func engineDied(_ engine: EngineID, reason: String, neverStarted: Set<TaskID>) {}

    /// A local outcome as it crosses the wire.
    static func wire(_ task: Int64, _ o: TaskOutcome, settledOnly: Bool) -> WireResult {
        var kind = WireResult.Value.none
        var integer: Int64 = 0
        if let i = o.value as? Int {
            kind = .integer
            integer = Int64(i)
        } else if o.value is ShellResult {
            kind = .shell
        }
        // A shell task's output went as `output` frames; only a closure's (none cross the wire) would be here.
        let streamed = o.value is ShellResult
        var r = WireResult(
            task: task, settledOnly: settledOnly, status: o.status, error: o.error,
            stdout: streamed ? .empty : o.stdout, stderr: streamed ? .empty : o.stderr,
            exitStatus: o.exitStatus, signal: o.signal, value: kind, integer: integer, started: o.started.microseconds,
            completed: o.completed.microseconds)
        r.usage = o.usage
        return r
    }
}

extension Template {
    /// A command taken as it is: nothing replaced, nothing appended (it was expanded by the scheduler).
    init(literal text: String) {
        self.text = text
        parts = [.literal(text)]
        replaces = true
    }
}
