import Foundation
import PPKit
import PPSource
import PPSystem
import Synchronization

import Glibc

/// How the link to the controller is doing.
public enum LinkState: Sendable, Equatable {
    case connecting
    case connected
    /// No reply in time. `portOpen`: the controller's port accepts TCP connections (so it is there but silent).
    case notAnswering(attempt: Int, portOpen: Bool, everConnected: Bool)
    /// A message arrived with a signature this key does not make.
    case signatureMismatch

    /// The state without its attempt count, to tell a change of state from another retry.
    public var kind: String {
        switch self {
        case .connecting: "connecting"
        case .connected: "connected"
        case .notAnswering(_, let open, let ever): "notAnswering \(open) \(ever)"
        case .signatureMismatch: "signatureMismatch"
        }
    }

    /// Whether the silence means the key is wrong: the port answers but not one request ever was.
    public var probablyWrongKey: Bool {
        if case .signatureMismatch = self { return true }
        if case .notAnswering(_, true, false) = self { return true }
        return false
    }

    /// One line for the user.
    public func message(_ info: ConnectionInfo) -> String {
        switch self {
        case .connecting: return "connecting to the controller at \(info.controllerURL)"
        case .connected: return "connected to the controller at \(info.controllerURL)"
        case .signatureMismatch, .notAnswering(_, true, false):
            return "signature mismatch: the controller at \(info.controllerURL) accepts connections but ignores "
                + "ppdash's requests (the hub drops badly signed messages silently), so the key in \(info.path) is "
                + "probably wrong: use the cluster's current ipcontroller-client.json"
        case .notAnswering(let attempt, let open, _):
            return "controller at \(info.controllerURL) not answering"
                + (open
                    ? " (its port is open: busy or hung)"
                    : " (its port does not accept connections: is the cluster running?)")
                + "; retrying every \(Int(IPPSource.retryDelay)) s (attempt \(attempt))"
        }
    }
}

/// Messages for the poll thread to send.
enum Outgoing: Sendable {
    case task([[UInt8]])
    case control([[UInt8]])
}

/// The state the poll thread and the dashboard share, behind `IPPSource.shared`'s mutex.
struct SharedState: Sendable {
    var info: ConnectionInfo
    var mirror: IPPMirror
    var cache = IPPMirror.TableCache()
    var session: JupyterSession
    var outbox: [Outgoing] = []
    var link = LinkState.connecting
    /// Completed poll cycles (1 after the first full load).
    var syncs = 0
    var stop = false
    var notice: (text: String, until: Int64)?
    var badSignatures = 0
    /// The last failed hub query, for the header and stderr.
    var hubError: String?
    /// Requests sent to the hub, by kind (`connection`, `db`), and IOPub messages received: what watching costs
    /// the controller.
    var requests = HubRequestCounts()
    /// A poll turn changed the mirror since `withChanges` last drained it (with `trackChanges`); `changed` was
    /// signalled when this became true.
    var changesPending = false
}

/// What ppdash asked the hub, counted (each request costs the controller CPU; a `db` request is a scan of its
/// record store).
public struct HubRequestCounts: Sendable, Equatable {
    public var connection = 0
    public var db = 0
    public var iopub = 0
    /// Records the hub returned, each a deep copy of its whole record (the controller's cost of watching).
    public var records = 0
    public init() {}
}

/// A lock-protected box the poll thread and the source both hold.
final class SharedBox: Sendable {
    let state: Mutex<SharedState>
    /// Signalled when the mirror changed and no change was pending (`changesPending`).
    let changed = DispatchSemaphore(value: 0)
    init(_ s: SharedState) { state = Mutex(s) }

    /// Wakes `waitForChanges` when the mirror has undrained changes (once until they are drained). The poll thread
    /// calls it at the end of every turn, so a change made by any thread is announced within a turn (20 ms).
    func announceChanges() {
        let wake = state.withLock { s -> Bool in
            guard s.mirror.trackChanges, !s.changesPending, s.mirror.hasChanges else { return false }
            s.changesPending = true
            return true
        }
        if wake { changed.signal() }
    }

    /// Waits until the mirror has changes to drain, at most `timeout` seconds; true when it has.
    func waitForChanges(timeout: Double) -> Bool {
        if state.withLock({ $0.changesPending }) { return true }
        // A wake left over from changes drained meanwhile is no change.
        return changed.wait(timeout: .now() + timeout) == .success && state.withLock { $0.changesPending }
    }

    /// Runs `body` on the mirror and the rows and engines changed since the last call, under the lock.
    func withChanges<T: Sendable>(_ body: (IPPMirror, [Int], [Int]) -> T) -> T {
        state.withLock { s in
            s.changesPending = false
            let c = s.mirror.drainChanges()
            return body(s.mirror, c.rows, c.engines)
        }
    }
}

/// An ipyparallel cluster as a dashboard source: a mirror of the hub's engines and task records, refreshed by one
/// thread running the ZeroMQ poll loop, and shell batches submitted to the cluster's load-balanced scheduler.
public final class IPPSource: DashboardSource {
    /// Tuning of the poll loop.
    public struct Options: Sendable {
        /// Seconds between hub queries. Starts and completions arrive at once on IOPub; the queries bring what
        /// IOPub does not carry (queued tasks, calls, labels, results), and each costs the hub a scan of its
        /// records.
        public var interval: Double = 0.5
        /// Seconds between hub queries during a flood (`RecordBudget`): the queries then bring only the budgeted
        /// records, and each cycle's scans and connection request cost the busy controller too.
        public var floodInterval: Double = 2
        /// Seconds between queries for the tasks the hub has assigned to engines (IOPub says which one runs).
        public var assignedEvery: Double = 2
        /// Seconds to wait for `connection_reply` before calling the controller not answering.
        public var replyTimeout: Double = 3
        /// Seconds between full msg_id sweeps (a safety net for clients whose clocks run behind).
        public var sweepEvery: Double = 10
        /// Seconds without any reply from a controller whose port still accepts connections before it is called
        /// gone (a refused port, a removed connection file or a shutdown notice say so at once).
        public var goneAfter: Double = 10
        /// Record changes for `drainChanges()`.
        public var trackChanges = false
        /// How many records a cycle asks for during a flood of tasks seen on IOPub first.
        public var budget = RecordBudget()
        public init() {}
    }

    static let retryDelay = 2.0
    /// The largest batch `submit` accepts.
    public static let maxBatch = 100_000

    let box: SharedBox
    private let done = DispatchSemaphore(value: 0)
    public let zmqPath: String

    /// Connects (in the background) to the controller the connection file names.
    public init(info: ConnectionInfo, options: Options = Options(), library: ZMQLibrary? = nil) throws {
        let lib = try library ?? ZMQLibrary.load()
        zmqPath = lib.path
        let now = SystemClock().now()
        var mirror = IPPMirror(now: now)
        mirror.trackChanges = options.trackChanges
        box = SharedBox(SharedState(info: info, mirror: mirror, session: JupyterSession(key: info.key)))
        let box = self.box
        let done = self.done
        let thread = Thread {
            PollLoop(lib: lib, box: box, options: options).run()
            done.signal()
        }
        thread.name = "ppdash-ipp"
        thread.start()
    }

    deinit { stop() }

    /// Stops the poll thread (idempotent).
    public func stop() {
        let first = box.state.withLock { s -> Bool in
            defer { s.stop = true }
            return !s.stop
        }
        if first { _ = done.wait(timeout: .now() + 2) }
    }

    public var info: ConnectionInfo { box.state.withLock { $0.info } }
    public var link: LinkState { box.state.withLock { $0.link } }
    /// Completed poll cycles; 1 once the first full load is in.
    public var syncs: Int { box.state.withLock { $0.syncs } }

    /// Requests sent to the hub so far, and IOPub messages received.
    public var requestCounts: HubRequestCounts { box.state.withLock { $0.requests } }

    /// Why the controller is gone, while it is (nil while it answers).
    public var controllerGone: String? { box.state.withLock { $0.mirror.controllerGone } }

    /// Why the hub refused a query, if it did.
    public var hubError: String? { box.state.withLock { $0.hubError } }

    /// A copy of the mirror (for `--json`; the dashboard uses `snapshot`).
    public var mirror: IPPMirror { box.state.withLock { $0.mirror } }

    /// Waits until `n` poll cycles completed; false on timeout or a wrong key.
    public func waitForSync(_ n: Int = 1, timeout: Double, onState: (LinkState) -> Void = { _ in }) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var last: LinkState?
        while Date() < deadline {
            let (syncs, link) = box.state.withLock { ($0.syncs, $0.link) }
            if syncs >= n { return true }
            if link != last {
                onState(link)
                last = link
            }
            if link.probablyWrongKey { return false }
            usleep(20_000)
        }
        return false
    }

    /// Runs `body` under the lock on the mirror and the rows and engines changed since the last call (needs
    /// `trackChanges`). Unlike `drainChanges` it copies nothing: a copy held while the poll thread goes on would
    /// make its next change copy every row (copy on write), twice the memory for a moment at each turn.
    public func withChanges<T: Sendable>(_ body: (IPPMirror, [Int], [Int]) -> T) -> T {
        box.withChanges(body)
    }

    /// Waits until the mirror changed (an IOPub start or completion, a hub reply: the poll thread announces a
    /// change at the end of its turn), at most `timeout` seconds (needs `trackChanges`); true when it did.
    /// `--follow` prints as soon as a change is in, rather than at its next tick.
    public func waitForChanges(timeout: Double) -> Bool { box.waitForChanges(timeout: timeout) }

    /// Rows and engines changed since the last call, as the mirror has them now (needs `trackChanges`).
    public func drainChanges() -> (mirror: IPPMirror, rows: [Int], engines: [Int]) {
        box.state.withLock { s in
            s.changesPending = false
            let c = s.mirror.drainChanges()
            return (s.mirror, c.rows, c.engines)
        }
    }

    private func sourceLine(_ s: SharedState, now: Timestamp) -> String {
        if let gone = s.mirror.controllerGone {
            // No URL: the header drops a source line that does not fit, and this one must show.
            var line = "ipp · CONTROLLER GONE: " + gone
            if let n = s.notice, n.until > now.microseconds { line += " · " + n.text }
            return line
        }
        var line = "ipp " + s.info.controllerURL
        switch s.link {
        case .connecting: line += " · connecting"
        case .connected: break
        case .notAnswering(let a, let open, let ever):
            line += open && !ever ? " · no reply: wrong key?" : " · NOT ANSWERING, retry \(a)"
        case .signatureMismatch: line += " · SIGNATURE MISMATCH: wrong key?"
        }
        if let n = s.notice, n.until > now.microseconds { line += " · " + n.text }
        if let e = s.hubError { line += " · " + e }
        return line
    }

    // MARK: DashboardSource

    public func snapshot(_ query: TableQuery) -> Snapshot {
        let now = SystemClock().now()
        return box.state.withLock { s in
            let line = sourceLine(s, now: now)
            return s.mirror.snapshot(query, now: now, source: line, cache: &s.cache)
        }
    }

    public func metadata(_ id: TaskID) -> TaskMetadata? { box.state.withLock { $0.mirror.metadata(id) } }

    /// The failed tasks for the triage view (`!`): R retries those this ppdash submitted, as `retry(task:)` does.
    public func failures() -> [FailureRecord]? { box.state.withLock { $0.mirror.failureRecords() } }

    /// Submits a shell sweep as one batch of `apply_request`s to the load-balanced scheduler.
    public func submit(_ submission: Submission) throws -> BatchID { try submit(submission.sweep()) }

    /// Submits a parsed sweep; returns the batch.
    public func submit(_ sweep: Sweep) throws -> BatchID {
        let n = sweep.count
        guard n > 0 else { throw SweepError("no arguments: write TEMPLATE ::: ARGS") }
        guard n <= Self.maxBatch else {
            throw SweepError("\(n) tasks is more than ppdash submits to an ipyparallel cluster at once (\(Self.maxBatch))")
        }
        let now = SystemClock().now()
        return try box.state.withLock { s in
            if let gone = s.mirror.controllerGone {
                // Queued for a controller that is not there, the tasks would wait forever: refuse them now.
                throw IPPError(
                    .notAnswering,
                    "the controller at \(s.info.controllerURL) is gone (\(gone)); ppdash follows the cluster when "
                        + "it comes back (a new connection file at \(s.info.path))")
            }
            var tasks: [(msgId: String, command: String, args: [String])] = []
            tasks.reserveCapacity(n)
            for k in 0..<n {
                let args = sweep.arguments(at: k)
                let command = ShellTask(template: sweep.template, args: args, seq: k + 1).command(slot: 0)
                let m = Self.applyRequest(&s.session, command: command, label: sweep.template.text)
                s.outbox.append(.task(s.session.serialize(m)))
                tasks.append((m.msgId, command, args))
            }
            return s.mirror.addOwnBatch(label: sweep.template.text, session: s.session.id, tasks: tasks, now: now)
        }
    }

    static func applyRequest(_ session: inout JupyterSession, command: String, label: String?) -> JupyterMessage {
        session.message(
            "apply_request", content: [:],
            metadata: [
                "after": [], "follow": [], "targets": [], "retries": 0, "timeout": nil,
                "label": label.map { .string($0) } ?? .null,
            ],
            buffers: ShellCall.buffers(command: command))
    }

    public func abort(task: TaskID) {
        box.state.withLock { s in
            let i = task.rawValue - 1
            guard i >= 0, i < s.mirror.taskCount, !s.mirror.row(at: i).status.isFinished else { return }
            Self.queueAbort(&s, [s.mirror.row(at: i).msgId])
        }
    }

    public func abort(batch: BatchID) {
        box.state.withLock { s in
            var ids: [String] = []
            for i in 0..<s.mirror.taskCount {
                let r = s.mirror.row(at: i)
                if r.batch == batch && !r.status.isFinished { ids.append(r.msgId) }
            }
            if !ids.isEmpty { Self.queueAbort(&s, ids) }
        }
    }

    /// `abort_request` on the control channel, to every live engine (queued tasks reply "aborted"; running ones finish).
    static func queueAbort(_ s: inout SharedState, _ ids: [String]) {
        let engines = s.mirror.engines.values.filter { $0.alive && !$0.uuid.isEmpty }
        for e in engines {
            let m = s.session.message(
                "abort_request", content: ["msg_ids": .array(ids.map { .string($0) })], idents: [Array(e.uuid.utf8)])
            s.outbox.append(.control(s.session.serialize(m)))
        }
    }

    public func retry(task: TaskID) throws {
        try box.state.withLock { s in try Self.retryRow(&s, row: task.rawValue - 1) }
    }

    static func retryRow(_ s: inout SharedState, row i: Int) throws {
        guard i >= 0, i < s.mirror.taskCount else { throw PPError(.unknownID, "no task \(i + 1)") }
        let r = s.mirror.row(at: i)
        guard r.status.isFinished else { throw PPError(.invalidState, "task \(i + 1) has not finished") }
        guard r.ours, let command = r.command else {
            throw PPError(
                .invalidState,
                "task \(i + 1) was not submitted from this ppdash: resubmit it from its client (client.resubmit)")
        }
        let m = applyRequest(&s.session, command: command, label: s.mirror.batches[r.batch - 1].label)
        s.outbox.append(.task(s.session.serialize(m)))
        s.mirror.resubmitted(row: i, newMsgId: m.msgId, now: SystemClock().now())
    }

    public func retryFailed(batch: BatchID) throws -> Int {
        try box.state.withLock { s in
            var n = 0
            for i in 0..<s.mirror.taskCount {
                let r = s.mirror.row(at: i)
                guard r.batch == batch, r.status.isFailure else { continue }
                guard r.ours else {
                    throw PPError(
                        .invalidState, "batch \(batch) was not submitted from this ppdash: resubmit from its client")
                }
                try Self.retryRow(&s, row: i)
                n += 1
            }
            return n
        }
    }

    public func setPaused(_ paused: Bool) {
        let until = SystemClock().now().microseconds + 5_000_000
        box.state.withLock {
            $0.notice = ("pausing is not supported for an ipyparallel cluster", until)
            $0.mirror.bump()
        }
    }

    public func addEngine() throws -> EngineID {
        throw PPError(
            .invalidState,
            "adding engines is not supported for an ipyparallel cluster: start more with 'ipcluster engines' or ipengine")
    }

    public func removeEngine(_ id: EngineID?) throws -> EngineID {
        throw PPError(
            .invalidState,
            "removing engines is not supported for an ipyparallel cluster: stop one with client.shutdown(targets=...)")
    }

    /// Fails the unfinished tasks of `batch` with `reason` (a caller that stops waiting for a gone controller);
    /// returns how many.
    @discardableResult
    public func lose(batch: BatchID, reason: String) -> Int {
        let now = SystemClock().now()
        return box.state.withLock { s in
            var ids: [String] = []
            for i in 0..<s.mirror.taskCount {
                let r = s.mirror.row(at: i)
                if r.batch == batch && !r.status.isFinished { ids.append(r.msgId) }
            }
            return s.mirror.lose(msgIds: ids, reason: reason, now: now)
        }
    }

    /// Aborts the unfinished tasks this ppdash submitted; other clients' tasks are left alone.
    public func stopAll() {
        box.state.withLock { s in
            var ids: [String] = []
            for i in 0..<s.mirror.taskCount {
                let r = s.mirror.row(at: i)
                if r.ours && !r.status.isFinished { ids.append(r.msgId) }
            }
            if !ids.isEmpty { Self.queueAbort(&s, ids) }
        }
    }
}

extension PollLoop.Kind {
    /// One word, for the trace's space-separated lines.
    var traceName: String {
        if case .catchUp = self { return "catchUp" }
        return "\(self)"
    }
}

/// The ZeroMQ side: one thread owns the context and sockets, polls them, and applies what arrives to the mirror.
final class PollLoop {
    enum Kind: Equatable { case connection, initial, newIds, records, finished, assigned, verify, byId, budgetedWaiting, catchUp(before: Timestamp) }

    let box: SharedBox
    let options: IPPSource.Options
    let zmq: ZMQContext?
    let setupError: String?
    var info: ConnectionInfo
    var session: JupyterSession
    var reg: ZMQSocket?
    var task: ZMQSocket?
    var control: ZMQSocket?
    var iopub: ZMQSocket?
    var notification: ZMQSocket?
    var pending: [String: (kind: Kind, sentAt: Double, timeout: Double)] = [:]
    var nextCycle = 0.0
    var nextSweep = 0.0
    var nextAssigned = 0.0
    /// Record fetches during a flood (`RecordBudget`).
    lazy var budget = options.budget
    /// `IPPMirror.ioRowsCreated` at the last cycle.
    var ioRowsSeen = 0
    /// The last cycle sent the full queries.
    var lastCycleFull = false
    /// The finished-query cutoff when the flood began: the first full cycle after it asks from there (records
    /// fetched by msg_id during the flood moved the mirror's cutoff past tasks whose results it never asked for).
    var floodReceived: Timestamp??
    /// The hub's DictDB keeps its newest 1024 records and drops a tenth when over: rows older than this many are
    /// likely gone, and are asked for after a flood rather than during it.
    static let hubKeeps = 900
    /// Reply bytes in one turn past which the heap is trimmed.
    static let trimAfterBytes = 1 << 20
    /// The msg_ids each pending by-id request asked for (those not returned are gone from the hub).
    var askedById: [String: [String]] = [:]
    var synced = false
    var everConnected = false
    var attempt = 0
    /// The controller's port refused connections at the last try.
    var down = false
    /// When the controller last replied (monotonic seconds), or when watching started.
    var lastReply = PollLoop.clock()
    /// The TCP port was probed during the current wait for a reply.
    var probedThisWait = false
    /// A `shutdown_notification` arrived.
    var shutdownSeen = false
    /// ppdash's own unfinished tasks being checked against the hub after a silence (see `verifyOwn`).
    var verifying: [String] = []
    /// Replies still due for the check (it is sent in slices of 500), the ids the hub knows so far, and whether a
    /// slice failed (then nothing is concluded).
    var verifyDue = 0
    var verifyKnown: Set<String> = []
    var verifyFailed = false
    /// When to check them (monotonic seconds), and the submission time before which they are checked.
    var verifyAt: (at: Double, before: Timestamp)?
    /// Lines for `IPPTrace.shared` (written once a turn), when tracing.
    var traceLines: [String] = []

    init(lib: ZMQLibrary, box: SharedBox, options: IPPSource.Options) {
        self.box = box
        self.options = options
        info = box.state.withLock { $0.info }
        // Queries use their own session, so their msg_ids never collide with submitted tasks'.
        session = JupyterSession(key: info.key)
        var setupError: String?
        do { zmq = try ZMQContext(lib) } catch {
            zmq = nil
            setupError = "\(error)"
        }
        self.setupError = setupError
    }

    static func clock() -> Double { SystemTime.monotonicSeconds() }

    func openSockets() {
        guard let zmq else { return }
        reg = try? zmq.openSocket(type: ZMQConst.dealer, endpoint: info.url(info.registration))
        task = try? zmq.openSocket(type: ZMQConst.dealer, endpoint: info.url(info.task))
        control = try? zmq.openSocket(type: ZMQConst.dealer, endpoint: info.url(info.control))
        iopub = try? zmq.openSocket(type: ZMQConst.sub, endpoint: info.url(info.iopub), subscribe: "")
        notification = try? zmq.openSocket(type: ZMQConst.sub, endpoint: info.url(info.notification), subscribe: "")
    }

    func closeSockets() {
        guard let zmq else { return }
        for s in [reg, task, control, iopub, notification] { if let s { zmq.close(s) } }
        reg = nil
        task = nil
        control = nil
        iopub = nil
        notification = nil
    }

    func run() {
        guard let zmq else {
            box.state.withLock { $0.link = .notAnswering(attempt: 0, portOpen: false, everConnected: false) }
            return
        }
        openSockets()
        // A refused port is known at once: say so now rather than after a reply timeout.
        down = probe(info.interface, info.registration) == .refused
        let trace = IPPTrace.shared
        while !box.state.withLock({ $0.stop }) {
            let start = trace == nil ? 0 : IPPTrace.now()
            // IOPub first: its starts and completions are what the user waits to see, the hub's replies (a big
            // db reply takes a while to parse) fill in details.
            let sockets = [iopub, notification, task, control, reg].compactMap { $0 }
            let ready = zmq.poll(sockets, timeoutMs: 20)
            let polled = trace == nil ? 0 : IPPTrace.now()
            var regMsgs = 0
            var regMicros: Int64 = 0
            var ioMsgs = 0
            var regBytes = 0
            for (k, s) in sockets.enumerated() where ready[k] {
                let t0 = trace == nil ? 0 : IPPTrace.now()
                var n = 0
                while n < 2000, let frames = zmq.receive(s) {
                    handle(frames, from: s)
                    if s === reg { regBytes += frames.reduce(0) { $0 + $1.count } }
                    n += 1
                    // Completions that came in meanwhile go before the next reply.
                    if s !== iopub { ioMsgs += drain(iopub) }
                }
                if s === iopub { ioMsgs += n }
                if trace != nil, s === reg {
                    regMsgs += n
                    regMicros += IPPTrace.now() - t0
                }
            }
            box.announceChanges()
            // A big reply (a first load, the catch-up after a flood: a thousand whole records) was parsed and
            // dropped: give its memory back, or the resident set keeps it for the session.
            if regBytes >= Self.trimAfterBytes { SystemFacts.trimHeap() }
            if let trace, regMsgs + ioMsgs > 0 {
                traceLines.append("turn \(start) \(polled) \(IPPTrace.now()) \(regMsgs) \(ioMsgs) \(regMicros)")
                trace.write(traceLines)
                traceLines.removeAll(keepingCapacity: true)
            }
            flushOutbox()
            tick(Self.clock())
        }
        closeSockets()
    }

    /// Handles what waits on `socket` now (at most 2000 messages); returns how many.
    func drain(_ socket: ZMQSocket?) -> Int {
        guard let zmq, let socket else { return 0 }
        var n = 0
        while n < 2000, let frames = zmq.receive(socket) {
            handle(frames, from: socket)
            n += 1
        }
        return n
    }

    // MARK: sending

    func flushOutbox() {
        guard let zmq else { return }
        var out = box.state.withLock { s -> [Outgoing] in
            defer { s.outbox.removeAll() }
            return s.outbox
        }
        guard !out.isEmpty else { return }
        var sent = 0
        for o in out {
            let ok: Bool
            switch o {
            case .task(let f): ok = task.map { zmq.send($0, f) } ?? false
            case .control(let f): ok = control.map { zmq.send($0, f) } ?? false
            }
            if !ok { break }
            sent += 1
        }
        if sent < out.count {
            out.removeFirst(sent)
            let rest = out
            box.state.withLock { $0.outbox.insert(contentsOf: rest, at: 0) }
        }
    }

    @discardableResult
    func request(_ type: String, _ content: JSON, kind: Kind, timeout: Double) -> String? {
        guard let zmq, let reg else { return nil }
        var m = session.message(type, content: content)
        m.idents = []
        if zmq.send(reg, session.serialize(m)) {
            pending[m.msgId] = (kind, Self.clock(), timeout)
            box.state.withLock {
                if kind == .connection { $0.requests.connection += 1 } else { $0.requests.db += 1 }
            }
            return m.msgId
        }
        return nil
    }

    @discardableResult
    func db(_ query: JSON, keys: [String]?, kind: Kind) -> String? {
        request("db_request", HubQuery.request(query, keys: keys), kind: kind, timeout: 30)
    }

    /// Asks for the records of these record-pending rows by msg_id; those not returned are gone from the hub.
    func fetchById(_ ids: [String]) {
        guard !ids.isEmpty, let id = db(HubQuery.records(ids), keys: HubQuery.recordKeys, kind: .byId) else { return }
        askedById[id] = ids
    }

    // MARK: the poll cycle

    func tick(_ now: Double) {
        if pending.values.contains(where: { now - $0.sentAt > $0.timeout }) {
            notAnswering(now)
            return
        }
        // A reply late by a second: a refused port (the controller stopped) is told at once, not after the timeout.
        if !probedThisWait, let oldest = pending.values.map(\.sentAt).min(), now - oldest > 1 {
            probedThisWait = true
            if probe(info.interface, info.registration) == .refused {
                notAnswering(now)
                return
            }
        }
        guard pending.isEmpty, now >= nextCycle else { return }
        if down {
            // While the port refuses connections, probe it every retryDelay rather than wait for reply timeouts.
            if probe(info.interface, info.registration) == .refused {
                attempt += 1
                if reloadConnectionFile(now) { return }
                let link = LinkState.notAnswering(attempt: attempt, portOpen: false, everConnected: everConnected)
                box.state.withLock { $0.link = link }
                judgeGone(now, refused: true)
                nextCycle = now + IPPSource.retryDelay
                return
            }
            down = false
            closeSockets()
            openSockets()
        }
        startCycle(now)
    }

    /// Decides whether the silent controller is gone, and why; a controller known to have stopped (its port
    /// refused, its connection file removed, a shutdown notice) takes its unfinished tasks with it.
    func judgeGone(_ now: Double, refused: Bool) {
        // Short reasons: the header has little room, and they change only when the cause does.
        var stopped: String?
        if !FileManager.default.fileExists(atPath: info.path) {
            stopped = "cluster stopped"  // ipcluster stop removes the connection file
        } else if shutdownSeen {
            stopped = "controller shut down"
        } else if refused {
            // Refused, not merely unanswered: a hung controller's full listen backlog times out instead.
            stopped = "connection refused"
        }
        let silent = now - lastReply
        let quiet = silent >= options.goneAfter ? "no reply for \(Int(options.goneAfter.rounded(.up))) s" : nil
        guard let reason = stopped ?? quiet else { return }
        let at = SystemClock().now()
        let url = info.controllerURL
        box.state.withLock { s in
            s.mirror.setControllerGone(reason)
            if stopped != nil { s.mirror.loseUnfinished(reason: "controller gone: \(reason) (\(url))", now: at) }
        }
    }

    /// The cluster may have been restarted with a new connection file: pick it up. True when it did.
    @discardableResult
    func reloadConnectionFile(_ now: Double) -> Bool {
        guard let fresh = try? ConnectionInfo.load(path: info.path), fresh != info else { return false }
        let old = info
        info = fresh
        session = JupyterSession(key: fresh.key)
        let at = SystemClock().now()
        box.state.withLock { s in
            s.info = fresh
            s.session = JupyterSession(key: fresh.key)
            // Whatever waits to be sent was signed for the old controller.
            s.outbox.removeAll()
            s.link = .connecting
            s.hubError = nil
            s.mirror.clusterReplaced(
                reason: "controller gone: the cluster at \(old.controllerURL) was replaced by one at "
                    + fresh.controllerURL,
                now: at)
        }
        pending.removeAll()
        askedById.removeAll()
        verifying = []
        verifyAt = nil
        synced = false
        everConnected = false
        shutdownSeen = false
        attempt = 0
        lastReply = now
        probedThisWait = false
        nextSweep = 0
        nextAssigned = 0
        closeSockets()
        openSockets()
        down = probe(info.interface, info.registration) == .refused
        nextCycle = now
        return true
    }

    func startCycle(_ now: Double) {
        probedThisWait = false
        if let v = verifyAt, now >= v.at {
            verifyAt = nil
            verifyOwn(before: v.before)
        }
        request("connection_request", [:], kind: .connection, timeout: options.replyTimeout)
        // Each db_request costs the hub a scan of its records and a deep copy of each match (DictDB), so a task's
        // record is asked for about once: while it waits (it was submitted since the last cycle and has no result
        // yet), or once it finished. Starts and completions come at once on IOPub, asking nothing.
        if !synced {
            db([:], keys: HubQuery.recordKeys, kind: .initial)
        } else {
            let (maxSubmitted, maxReceived, created, backlog) = box.state.withLock {
                ($0.mirror.maxSubmitted, $0.mirror.maxReceived, $0.mirror.ioRowsCreated, $0.mirror.recordBacklog)
            }
            let plan = budget.plan(now: now, newPending: created - ioRowsSeen, backlog: backlog)
            ioRowsSeen = created
            if case .flood(let fetch, let waiting) = plan {
                // A flood: IOPub shows each start and completion; records come under the budget, the oldest of
                // those the hub likely still holds first (it drops its oldest beyond 1024; the rest are asked
                // once the flood is over).
                lastCycleFull = false
                if floodReceived == nil { floodReceived = .some(maxReceived) }
                if waiting { db(HubQuery.waiting(since: maxSubmitted), keys: HubQuery.recordKeys, kind: .budgetedWaiting) }
                if fetch > 0 {
                    let ids = box.state.withLock {
                        $0.mirror.recordPendingIds(limit: fetch, fromRow: max(0, $0.mirror.taskCount - Self.hubKeeps))
                    }
                    if ids.count < fetch { budget.refund(fetch - ids.count) }
                    fetchById(ids)
                }
                if now >= nextAssigned {
                    nextAssigned = now + options.assignedEvery
                    db(["completed": ["$eq": nil], "engine_uuid": ["$ne": nil]], keys: ["engine_uuid"], kind: .assigned)
                }
                if pending.isEmpty { nextCycle = now + IPPSource.retryDelay }
                return
            }
            db(HubQuery.waiting(since: maxSubmitted), keys: HubQuery.recordKeys, kind: .records)
            if let cutoff = floodReceived {
                // After a flood: every result the hub still holds from it, once; rows it does not return that
                // finished 3 s before are gone from the hub (it keeps its newest 1024).
                floodReceived = nil
                db(
                    HubQuery.finished(since: cutoff), keys: HubQuery.recordKeys,
                    kind: .catchUp(before: SystemClock().now().adding(seconds: -3)))
            } else {
                db(HubQuery.finished(since: maxReceived), keys: HubQuery.recordKeys, kind: .records)
            }
            if lastCycleFull, backlog > 0 {
                // Rows the last full cycle did not bring a record for (a flood's, before its cutoff, or dropped by
                // the hub): asked by msg_id, 500 a cycle, once they are 3 s old.
                let ids = box.state.withLock {
                    $0.mirror.recordPendingIds(limit: 500, submittedBefore: SystemClock().now().adding(seconds: -3))
                }
                fetchById(ids)
            }
            lastCycleFull = true
            if now >= nextSweep {
                nextSweep = now + options.sweepEvery
                // A safety net for clients whose clocks run behind (their `submitted` before the cutoff): the ids
                // of every task without a result, the unknown ones fetched next.
                db(HubQuery.waiting(since: nil), keys: ["submitted"], kind: .newIds)
            }
        }
        if now >= nextAssigned {
            nextAssigned = now + options.assignedEvery
            db(["completed": ["$eq": nil], "engine_uuid": ["$ne": nil]], keys: ["engine_uuid"], kind: .assigned)
        }
        if nextSweep == 0 { nextSweep = now + options.sweepEvery }
        // Nothing could be sent (no socket): try again later rather than spin.
        if pending.isEmpty { nextCycle = now + IPPSource.retryDelay }
    }

    func cycleDone(_ now: Double) {
        if !synced { synced = true }
        nextCycle = now + (budget.inFlood ? options.floodInterval : options.interval)
        box.state.withLock { $0.syncs += 1 }
    }

    func notAnswering(_ now: Double) {
        pending.removeAll()
        askedById.removeAll()
        verifying = []
        attempt += 1
        if reloadConnectionFile(now) { return }
        let found = probe(info.interface, info.registration)
        let open = found == .accepts
        down = found == .refused
        // Fresh sockets drop whatever queued for the silent peer.
        closeSockets()
        openSockets()
        let link = LinkState.notAnswering(attempt: attempt, portOpen: open, everConnected: everConnected)
        box.state.withLock { $0.link = link }
        judgeGone(now, refused: found == .refused)
        nextCycle = now + IPPSource.retryDelay
    }

    /// After a silence, ppdash's own unfinished tasks are checked against the hub: the sockets reopened while the
    /// controller was silent dropped whatever was queued on them, and a task the hub never received would stay
    /// pending forever. Only tasks sent before the silence ended are checked, once the hub has had 3 s to catch up.
    func verifyOwn(before cutoff: Timestamp) {
        guard verifying.isEmpty else { return }
        let ids = box.state.withLock { s -> [String] in
            var ids: [String] = []
            for i in 0..<s.mirror.taskCount {
                let r = s.mirror.row(at: i)
                if r.ours, !r.status.isFinished, r.submitted < cutoff { ids.append(r.msgId) }
            }
            return ids
        }
        guard !ids.isEmpty else { return }
        verifying = ids
        verifyKnown = []
        verifyFailed = false
        verifyDue = 0
        var start = 0
        while start < ids.count {
            db(HubQuery.records(Array(ids[start..<min(ids.count, start + 500)])), keys: ["msg_id"], kind: .verify)
            verifyDue += 1
            start += 500
        }
    }

    // MARK: receiving

    func handle(_ frames: [[UInt8]], from s: ZMQSocket) {
        let received = IPPTrace.shared == nil ? 0 : IPPTrace.now()
        let m: JupyterMessage
        do { m = try session.deserialize(frames) } catch {
            if error == .signatureMismatch {
                box.state.withLock {
                    $0.badSignatures += 1
                    $0.link = .signatureMismatch
                }
            }
            return
        }
        let now = SystemClock().now()
        if s === reg {
            handleReply(m, now: now)
        } else if s === iopub {
            guard let (id, event) = IPPMirror.ioEvent(m) else { return }
            let origin = IPPMirror.ioOrigin(m)
            box.state.withLock {
                $0.requests.iopub += 1
                $0.mirror.apply(io: event, msgId: id, origin: origin, now: now)
            }
            if IPPTrace.shared != nil, case .idle(_, let at) = event {
                traceLines.append("io \(id) \(at.microseconds) \(received) \(IPPTrace.now())")
            }
        } else if s === notification {
            let id = m.content["id"]?.int
            let uuid = m.content["uuid"]?.string ?? m.content["queue"]?.string ?? ""
            if m.msgType == "shutdown_notification" { shutdownSeen = true }
            box.state.withLock { st in
                switch m.msgType {
                case "registration_notification":
                    if let id { st.mirror.engineRegistered(id: id, uuid: uuid, now: now) }
                case "unregistration_notification":
                    if let id { st.mirror.engineUnregistered(id: id, now: now) }
                case "shutdown_notification":
                    st.notice = ("the controller is shutting down", now.microseconds + 30_000_000)
                default: break
                }
            }
        } else if s === task {
            guard m.msgType == "apply_reply",
                let rec = HubRecord(reply: m, engineUUID: m.idents.first.map { String(decoding: $0, as: UTF8.self) }, receivedAt: now)
            else { return }
            box.state.withLock { $0.mirror.apply(records: [rec], now: now) }
        }
    }

    func handleReply(_ m: JupyterMessage, now: Timestamp) {
        guard let parent = m.parentId, let p = pending.removeValue(forKey: parent) else { return }
        if p.kind != .connection {
            // Each record of a db reply is a deep copy of the hub's whole record (DictDB copies every match).
            let copies = m.content["records"]?.array?.count ?? 0
            box.state.withLock { $0.requests.records += copies }
            if IPPTrace.shared != nil { traceLines.append("db \(p.kind.traceName) \(copies) \(IPPTrace.now())") }
        }
        everConnected = true
        let afterSilence = attempt > 0
        attempt = 0
        lastReply = Self.clock()
        shutdownSeen = false
        let ok = m.content["status"]?.string == "ok"
        if !ok, p.kind != .connection {
            // E.g. a controller started with NoDB: db_request fails, and only ppdash's own tasks can show.
            let why = HubRecord.describeError(m.content)?.split(separator: "\n").first.map(String.init) ?? "error"
            box.state.withLock { $0.hubError = "the hub's task database refused a query (\(why))" }
        }
        var follow: [String] = []
        switch p.kind {
        case .connection:
            var live: [Int: String] = [:]
            for (k, v) in m.content["engines"]?.object ?? [:] {
                if let id = Int(k), let u = v.string { live[id] = u }
            }
            box.state.withLock {
                $0.link = .connected
                $0.mirror.setControllerGone(nil)
                $0.mirror.setLiveEngines(live, now: now)
            }
            if afterSilence {
                // The hub may still be working through what queued during the silence: give it 3 s first.
                verifyAt = (Self.clock() + 3, now.adding(seconds: -1))
            }
        case .initial, .records, .budgetedWaiting, .catchUp:
            let recs = ok ? HubRecord.parse(dbReply: m.content, buffers: m.buffers) : []
            box.state.withLock { s in
                s.mirror.apply(records: recs, now: now)
                if ok, case .catchUp(let before) = p.kind { s.mirror.recordsGone(finishedBefore: before) }
            }
            if p.kind == .budgetedWaiting { budget.spend(recs.count) }
        case .byId:
            let asked = askedById.removeValue(forKey: parent) ?? []
            guard ok else { break }
            let recs = HubRecord.parse(dbReply: m.content, buffers: m.buffers)
            let got = Set(recs.map(\.msgId))
            // Not returned: gone from the hub, unless so young that the hub may not have recorded it yet.
            let oldEnough = now.adding(seconds: -3)
            box.state.withLock { s in
                s.mirror.apply(records: recs, now: now)
                let missing = asked.filter { id in
                    !got.contains(id) && (s.mirror.row(msgId: id).map { $0.submitted < oldEnough } ?? false)
                }
                s.mirror.recordsGone(missing)
            }
        case .finished:
            // Tasks seen first finished (faster than one poll) get their full records, label and call included.
            let recs = ok ? HubRecord.parse(dbReply: m.content, buffers: m.buffers) : []
            follow = box.state.withLock { $0.mirror.applyUpdates(recs, now: now) }
        case .newIds:
            let ids = (m.content["records"]?.array ?? []).compactMap { $0["msg_id"]?.string }
            follow = box.state.withLock { $0.mirror.unknown(ids) }
        case .verify:
            verifyDue -= 1
            if ok {
                for r in m.content["records"]?.array ?? [] { if let id = r["msg_id"]?.string { verifyKnown.insert(id) } }
            } else {
                verifyFailed = true
            }
            if verifyDue <= 0 {
                let lost = verifyFailed ? [] : verifying.filter { !verifyKnown.contains($0) }
                verifying = []
                verifyKnown = []
                if !lost.isEmpty {
                    _ = box.state.withLock {
                        $0.mirror.lose(
                            msgIds: lost,
                            reason: "lost: it never reached the controller "
                                + "(sent while the controller was not answering)",
                            now: now)
                    }
                }
            }
        case .assigned:
            let pairs = (m.content["records"]?.array ?? []).compactMap { r -> (msgId: String, engineUUID: String)? in
                guard let id = r["msg_id"]?.string, let u = r["engine_uuid"]?.string else { return nil }
                return (id, u)
            }
            box.state.withLock { $0.mirror.applyAssigned(pairs, now: now) }
        }
        if !follow.isEmpty {
            // Fetch new tasks' records in slices, so one reply stays a reasonable size.
            var start = 0
            while start < follow.count {
                let slice = Array(follow[start..<min(follow.count, start + 500)])
                db(HubQuery.records(slice), keys: HubQuery.recordKeys, kind: .records)
                start += 500
            }
        }
        if pending.isEmpty { cycleDone(Self.clock()) }
    }
}

/// Tries a TCP connection to `interface` (`tcp://host`) and `port` for up to a second.
func probe(_ interface: String, _ port: Int) -> TCPProbe {
    tcpProbe(host: String(interface.dropFirst("tcp://".count)), port: port)
}
