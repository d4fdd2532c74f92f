import Foundation
import PPSystem
import Synchronization

/// How `EngineLauncher` starts engines of each kind.
public struct EngineLaunchOptions: Sendable {
    public var remote = RemoteEngineOptions()
    /// The `ppdash` binary a `proc` worker runs (nil: this very binary, through /proc/self/exe).
    public var workerExecutable: String?
    /// The ssh command and its own options, e.g. `["ssh", "-F", "my_config"]`.
    public var sshCommand = ["ssh"]
    /// `ppdash` on ssh hosts: a name found on the remote PATH, or a path.
    public var remotePPDash = "ppdash"
    /// The address a `listen` spec binds.
    public var bind = "127.0.0.1"
    /// The token file of a `listen` spec (nil: `EngineToken.defaultPath`).
    public var tokenPath: String?
    /// How `slurm` specs submit and watch their jobs.
    public var slurm = SlurmOptions()

    public init() {}
}

/// Starts the engines that `-e` specs name, and more of the first spec's kind on demand (the dashboard's `+`).
///
/// An engine that cannot start (a dead ssh host, a worker that never says hello) is one dead engine, its reason
/// kept: the others run the batch, as GNU parallel goes on with the hosts it has. Only a `listen` spec that cannot
/// listen (bad address, port taken, bad token file) is an error: that is the user's configuration.
public final class EngineLauncher: Sendable {
    public let options: EngineLaunchOptions
    public let specs: [EngineSpec]
    public let scheduler: Scheduler
    /// The listener, when a spec is `listen`.
    public let listener: EngineListener?
    /// The engines that did not start, each adopted by the scheduler as dead with its reason.
    public let failures: [EngineLaunchFailure]
    /// The Slurm jobs' listener and queue watcher, when a spec is `slurm`.
    public let slurm: SlurmPool?

    /// Starts every spec's engines on `scheduler` (workers at once, waiting for their hellos); throws only when a
    /// `listen` spec cannot listen.
    public init(specs: [EngineSpec], scheduler: Scheduler, options: EngineLaunchOptions) throws(PPError) {
        self.specs = specs
        self.scheduler = scheduler
        self.options = options
        var listener: EngineListener?
        var failures: [EngineLaunchFailure] = []
        var slurm: SlurmPool?
        var slurmEngines: [[any Engine]] = []
        do throws(PPError) {
            // The listener first: its errors are the user's configuration, found before any worker starts.
            for spec in specs {
                if case .listen(let port) = spec {
                    let path: String
                    if let p = options.tokenPath { path = p } else { path = try EngineToken.defaultPath() }
                    let token = try EngineToken.readOrCreate(path: path)
                    listener = try EngineListener(
                        scheduler: scheduler, bind: options.bind, port: port, token: token, tokenPath: path,
                        options: options.remote)
                }
            }
            // Slurm jobs next: a wrong partition or an unreachable controller is one error before anything runs.
            for spec in specs {
                guard case .slurm(let n) = spec else { continue }
                if slurm == nil {
                    slurm = try SlurmPool(scheduler: scheduler, options: options.slurm, remote: options.remote)
                }
                slurmEngines.append(try slurm!.submit(count: n))
            }
        } catch {
            listener?.close()
            slurm?.close()
            scheduler.shutdown()
            throw error
        }
        // Every spec's workers start at once and share one hello deadline: two unreachable hosts cost one timeout,
        // not two. The engines heard from by then (or, once one engine can run tasks, within `stragglerWait`) join
        // in spec order, so their ids follow the specs; a worker still silent then (a host that drops packets)
        // does not hold up the batch: it joins when its hello comes, or is adopted dead with its reason at the
        // deadline, in the background (`stragglers`). Slurm jobs were submitted above: their engines are ready rows.
        let started = specs.map { spec -> Launch in
            guard case .slurm = spec else { return Self.start(spec, options: options) }
            return .ready(slurmEngines.removeFirst())
        }
        let deadline = DispatchTime.now() + .nanoseconds(Int(Timings.nanoseconds(options.remote.helloTimeout) ?? 0))
        var slots: [(spec: EngineSpec, result: Result<any Engine, PPError>?, pending: PendingLaunch?)] = []
        for (spec, launch) in zip(specs, started) {
            switch launch {
            case .ready(let engines): slots += engines.map { (spec, .success($0), nil) }
            case .started(let pending):
                for p in pending {
                    switch p {
                    case .failure(let e): slots.append((spec, .failure(e), nil))
                    case .success(let p): slots.append((spec, nil, p))
                    }
                }
            }
        }
        var firstReady: DispatchTime?
        while true {
            for i in slots.indices where slots[i].pending != nil && slots[i].result.map({ _ in false }) ?? true {
                slots[i].result = slots[i].pending!.verdictNow.map { $0.map { $0 as any Engine } }
            }
            let now = DispatchTime.now()
            if firstReady == nil, slots.contains(where: { if case .success = $0.result { true } else { false } }) {
                firstReady = now
            }
            let open = slots.filter { $0.result.map { _ in false } ?? true }.count
            if open == 0 || now >= deadline { break }
            if let firstReady, now >= firstReady + .nanoseconds(Int(Timings.nanoseconds(Self.stragglerWait)!)) { break }
            Timings.sleep(0.005)
        }
        var stragglers: [(EngineSpec, PendingLaunch)] = []
        for slot in slots {
            switch slot.result {
            case .success(let engine)?:
                scheduler.addEngine(engine)
            case .failure(let error)?:
                let dead = DeadEngine(info: Self.info(of: slot.spec), reason: error.message)
                let id = scheduler.addEngine(dead)
                failures.append(EngineLaunchFailure(engine: id, spec: slot.spec, reason: error.message))
            case nil:
                if DispatchTime.now() >= deadline {
                    // Silent to the end: dead now, with its reason (the wait fails it at once).
                    do throws(PPError) {
                        scheduler.addEngine(try slot.pending!.wait(until: deadline))
                    } catch {
                        let dead = DeadEngine(info: Self.info(of: slot.spec), reason: error.message)
                        let id = scheduler.addEngine(dead)
                        failures.append(EngineLaunchFailure(engine: id, spec: slot.spec, reason: error.message))
                    }
                } else {
                    stragglers.append((slot.spec, slot.pending!))
                }
            }
        }
        self.listener = listener
        self.failures = failures
        self.slurm = slurm
        self.starting = stragglers.map { ($0.0, $0.1.what) }
        if !stragglers.isEmpty { Self.adoptLater(stragglers, scheduler: scheduler, until: deadline) }
    }

    /// Seconds the launch still waits for silent workers once one engine can run tasks (an ssh login may take
    /// a moment); past it they join in the background.
    public static let stragglerWait = 2.0

    /// Workers still starting when the launch returned (they join, or are adopted dead, later): their spec and
    /// what they are ("ssh engine on node7").
    public let starting: [(spec: EngineSpec, what: String)]

    /// Adopts each straggler when its hello comes, or as a dead engine with its reason at the deadline.
    private static func adoptLater(
        _ stragglers: [(EngineSpec, PendingLaunch)], scheduler: Scheduler, until deadline: DispatchTime
    ) {
        for (spec, pending) in stragglers {
            let thread = Thread {
                do throws(PPError) {
                    let engine = try pending.wait(until: deadline)
                    scheduler.addEngine(engine)
                } catch {
                    // A batch may be under way: it may be handed a task as it joins, given back as never started.
                    let dead = DeadEngine(info: Self.info(of: spec), reason: error.message, deferred: true)
                    scheduler.addEngine(dead)
                    dead.die()
                }
            }
            thread.name = "ppdash-engine-start"
            thread.stackSize = 256 << 10
            thread.start()
        }
    }

    /// Whether any engine can run tasks: one alive, or a listener that engines may still join.
    public var hasEngines: Bool { listener != nil || !scheduler.engineIDs.isEmpty }

    /// Cancels every Slurm job this launcher submitted (one `scancel`) and says so; nothing when there are none.
    public func close() { slurm?.close() }

    /// What a spec's engines are, before any of them said hello.
    static func info(of spec: EngineSpec) -> EngineInfo {
        switch spec {
        case .local: EngineInfo(kind: .local, host: hostName(), pid: 0, cores: 0)
        case .proc: EngineInfo(kind: .proc, host: hostName(), pid: 0, cores: 0)
        case .ssh(_, let login): EngineInfo(kind: .ssh, host: login.host, pid: 0, cores: 0)
        case .listen: EngineInfo(kind: .connected, host: "?", pid: 0, cores: 0)
        case .slurm: EngineInfo(kind: .slurm, host: "?", pid: 0, cores: 0)
        }
    }

    /// A spec's engines on their way: in-process ones are ready, workers are started and not yet heard from.
    enum Launch {
        case ready([any Engine])
        case started([Result<PendingLaunch, PPError>])
    }

    /// Starts a spec's engines (none for `listen`) without waiting for any hello.
    static func start(_ spec: EngineSpec, options: EngineLaunchOptions) -> Launch {
        switch spec {
        case .local(let n):
            return .ready((0..<n).map { _ in InProcessEngine() })
        case .proc(let n):
            let exe = options.workerExecutable ?? "/proc/self/exe"
            return .started(
                RemoteEngine.startEach(
                    count: n, path: exe, argv: ["ppdash", "engine", "--stdio"], kind: .proc, label: "", host: hostName(),
                    what: "worker process (\(exe) engine --stdio)", options: options.remote))
        case .ssh(let n, let login):
            let argv = sshArguments(login: login, options: options)
            return .started(
                RemoteEngine.startEach(
                    count: n, path: argv[0], argv: argv, kind: .ssh, label: "ssh ", host: login.host,
                    what: "ssh engine on \(login)", options: options.remote))
        case .listen, .slurm:
            return .ready([])
        }
    }

    /// Each engine of a launch once its hello is in, or why it did not start.
    static func adopt(_ launch: Launch, until deadline: DispatchTime) -> [Result<any Engine, PPError>] {
        switch launch {
        case .ready(let engines): return engines.map { .success($0) }
        case .started(let pending):
            return RemoteEngine.awaitHellos(pending, until: deadline).map { $0.map { $0 as any Engine } }
        }
    }

    /// A client whose `addEngine()` adds one engine of the first spec's kind.
    public func makeClient() -> Client {
        Client(scheduler: scheduler) { [self] () throws(PPError) -> any Engine in try self.makeOne() }
    }

    /// One more engine like the first spec's.
    public func makeOne() throws(PPError) -> any Engine {
        switch specs.first ?? .local(count: 1) {
        case .local: return InProcessEngine()
        case .proc: return try Self.engines(.proc(count: 1), options: options)[0]
        case .ssh(_, let login): return try Self.engines(.ssh(count: 1, login: login), options: options)[0]
        case .listen:
            let how = listener.map { "run: " + $0.connectCommand() } ?? "run ppdash engine --connect"
            throw PPError(.noEngine, "engines join a listener by connecting to it: \(how)")
        case .slurm:
            guard let slurm else { throw PPError(.noEngine, "no Slurm engines here") }
            return try slurm.submit(count: 1)[0]
        }
    }

    /// Starts a spec's engines (not `listen`); throws the first failure.
    static func engines(_ spec: EngineSpec, options: EngineLaunchOptions) throws(PPError) -> [any Engine] {
        switch spec {
        case .local(let n):
            return (0..<n).map { _ in InProcessEngine() }
        case .proc(let n):
            let exe = options.workerExecutable ?? "/proc/self/exe"
            return try RemoteEngine.launch(
                count: n, path: exe, argv: ["ppdash", "engine", "--stdio"], kind: .proc, label: "", host: hostName(),
                what: "worker process (\(exe) engine --stdio)", options: options.remote)
        case .ssh(let n, let login):
            let argv = sshArguments(login: login, options: options)
            return try RemoteEngine.launch(
                count: n, path: argv[0], argv: argv, kind: .ssh, label: "ssh ", host: login.host,
                what: "ssh engine on \(login)", options: options.remote)
        case .listen, .slurm:
            return []
        }
    }

    /// `ssh -T -o BatchMode=yes [-p PORT] [user@]host -- ppdash engine --stdio`, with the configured ssh command.
    public static func sshArguments(login: SSHLogin, options: EngineLaunchOptions) -> [String] {
        var argv = options.sshCommand.isEmpty ? ["ssh"] : options.sshCommand
        argv += ["-T", "-o", "BatchMode=yes"]
        if let port = login.port { argv += ["-p", String(port)] }
        argv += [login.destination, "--", Template.quote(options.remotePPDash) + " engine --stdio"]
        return argv
    }
}

/// One engine that did not start, and why.
public struct EngineLaunchFailure: Sendable, Hashable {
    /// Its id: the scheduler holds it as a dead engine.
    public var engine: EngineID
    public var spec: EngineSpec
    public var reason: String
}

/// An engine that never started: the scheduler adopts it and hears at once that it is dead, with the reason, so the
/// engines pane, the journal and `queueStatus` show it as any other dead engine.
final class DeadEngine: Engine {
    let info: EngineInfo
    let reason: String
    var highWaterMark: Int { 1 }
    var runsClosures: Bool { false }
    /// `deferred`: the death is told by `die()`, once the scheduler has handed it what it will (a batch is under
    /// way: the scheduler may dispatch to it as it joins). Tasks handed to it, none of them ever started.
    private let pending: Mutex<(deferred: Bool, id: EngineID, sink: (any EngineSink)?, handed: Set<TaskID>)>

    init(info: EngineInfo, reason: String, deferred: Bool = false) {
        self.info = info
        self.reason = reason
        pending = Mutex((deferred, -1, nil, []))
    }

    func start(id: EngineID, sink: any EngineSink) {
        let now = pending.withLock { p -> Bool in
            (p.id, p.sink) = (id, sink)
            return !p.deferred
        }
        if now { sink.engineDied(id, reason: reason) }
    }

    /// Tells the deferred death: whatever it was handed goes back to the queue (never started, no retry spent).
    func die() {
        let (id, sink, handed) = pending.withLock { p in (p.id, p.sink, p.handed) }
        sink?.engineDied(id, reason: reason, neverStarted: handed)
    }

    /// Never runs anything: a task handed to it before its death is given back by `engineDied`.
    func run(_ assignment: Assignment) { pending.withLock { _ = $0.handed.insert(assignment.task) } }
    func cancel(_ task: TaskID, reason: CancelReason) {}
    func shutdown(graceful: Bool) {}
}
