// The attach side: a dashboard source speaking to a running ppdash's state socket.
import Foundation
import Glibc
import PPAttach
import PPKit
import PPSource
import PPSystem
import Synchronization

/// Snapshots and commands over a running ppdash's state socket; when that ppdash ends, the view carries on from its
/// journal, read-only, and says so in the header. Trouble with the connection while that ppdash still runs (no
/// answer, refused, too many viewers) never makes the batch look ended: the view keeps the last state it had, says
/// "cannot connect: why" and tries again every second.
public final class SocketSource: DashboardSource {
    public let socketPath: String
    public let journalPath: String
    /// The server's answer to hello (or, while it could not be reached, what the journal says of it).
    public let server: ServerInfo
    private struct State {
        var connection: AttachConnection?
        var fallback: JournalSource?
        /// The batch was stopped from this view (`Q`).
        var stopped = false
        /// Why the running ppdash cannot be reached now.
        var trouble: String?
        /// The last frame it sent, shown while it cannot be reached.
        var last: Snapshot?
        /// The journal as read when trouble began (when there is no frame yet).
        var journalView: JournalSource?
        /// When to try connecting again (monotonic seconds).
        var nextTry: Double = 0
    }
    private let state: Mutex<State>

    /// Connects and says hello; throws a readable reason (nobody listens, another protocol version, refused).
    public init(socket: String, journal: String) throws(JournalError) {
        socketPath = socket
        journalPath = journal
        switch Self.open(socket) {
        case .success(let (connection, info)):
            server = info
            state = Mutex(State(connection: connection))
        case .failure(let e):
            throw e
        }
    }

    /// A view of the batch that ppdash `pid` runs, whose socket could not be reached (`why`): it shows the journal
    /// and `why`, and connects as soon as it can.
    public init(unreachable socket: String, journal: String, pid: Int32, why: String) {
        socketPath = socket
        journalPath = journal
        var info = ServerInfo(journal: journal, ppdash: "?")
        info.pid = pid
        server = info
        state = Mutex(State(trouble: why, nextTry: SystemTime.monotonicSeconds() + 1))
    }

    /// Connects to `socket` and says hello.
    private static func open(_ socket: String) -> Result<(AttachConnection, ServerInfo), JournalError> {
        let connection: AttachConnection
        do {
            connection = try AttachConnection.connect(socket, timeout: 2)
        } catch {
            return .failure(JournalError(.cannotRead, "cannot connect to \(socket): \(error.description)"))
        }
        guard let reply = connection.request(.hello(version: attachProtocolVersion)) else {
            connection.close()
            return .failure(JournalError(.cannotRead, "the ppdash at \(socket) did not answer"))
        }
        if let e = reply.error {
            connection.close()
            return .failure(JournalError(.cannotRead, e))
        }
        guard let info = reply.server else {
            connection.close()
            return .failure(JournalError(.cannotRead, "the ppdash at \(socket) did not say who it is"))
        }
        return .success((connection, info))
    }

    deinit {
        state.withLock { $0.connection?.close() }
    }

    /// The connection is gone for good (its ppdash ended): the view shows the journal now.
    public var isReadOnly: Bool { state.withLock { $0.fallback != nil } }
    /// `Q` stopped the batch from this view.
    public var stoppedBatch: Bool { state.withLock { $0.stopped } }
    /// Why the running ppdash cannot be reached now, if it cannot.
    public var trouble: String? { state.withLock { $0.trouble } }

    /// Whether the serving ppdash still runs.
    private var serverAlive: Bool { kill(server.pid, 0) == 0 || errno == EPERM }

    /// Sends one request and waits for its reply; nil when there is none now (connection trouble, retried) or for
    /// good (the ppdash ended: then the journal takes over).
    private func call(_ request: AttachRequest) -> AttachReply? {
        state.withLock { s -> AttachReply? in
            guard s.fallback == nil else { return nil }
            if s.connection == nil { reconnect(&s) }
            guard let connection = s.connection else { return nil }
            if let reply = connection.request(request) {
                s.trouble = nil
                return reply
            }
            connection.close()
            s.connection = nil
            if serverAlive {
                s.trouble = "ppdash (pid \(server.pid)) did not answer"
                s.nextTry = SystemTime.monotonicSeconds() + 1
            } else {
                s.fallback = Self.readOnly(journalPath, pid: server.pid)
            }
            return nil
        }
    }

    /// Tries to connect again (at most once a second) while the serving ppdash runs; else the journal takes over.
    private func reconnect(_ s: inout State) {
        let now = SystemTime.monotonicSeconds()
        guard now >= s.nextTry else { return }
        s.nextTry = now + 1
        guard serverAlive else {
            s.fallback = Self.readOnly(journalPath, pid: server.pid)
            return
        }
        switch Self.open(socketPath) {
        case .success(let (connection, _)):
            s.connection = connection
            s.trouble = nil
        case .failure(let e):
            s.trouble = e.message
        }
    }

    private var fallback: JournalSource? { state.withLock { $0.fallback } }

    /// The journal as a read-only source, labelled for the header.
    static func readOnly(_ journal: String, pid: Int32) -> JournalSource? {
        guard let c = try? JournalReader.read(journal) else { return nil }
        return JournalSource(c, label: "read-only (pid \(pid) ended)")
    }

    private func ask(_ request: AttachRequest) throws -> AttachReply {
        guard let reply = call(request) else {
            if let trouble {
                throw PPError(.invalidState, "cannot connect to ppdash (pid \(server.pid)): \(trouble); trying again")
            }
            throw PPError(.invalidState, "ppdash (pid \(server.pid)) has ended: this view is read-only now")
        }
        if let e = reply.error { throw PPError(.invalidState, e) }
        return reply
    }

    public func snapshot(_ query: TableQuery) -> Snapshot {
        if let r = call(.snapshot(query)), var s = r.snapshot {
            s.source = "attached (pid \(server.pid))"
            state.withLock { $0.last = s }
            return s
        }
        if let f = fallback { return f.snapshot(query) }
        let (trouble, last, journal) = state.withLock { s -> (String?, Snapshot?, JournalSource?) in
            if s.trouble != nil && s.last == nil && s.journalView == nil {
                s.journalView = (try? JournalReader.read(journalPath)).map { JournalSource($0, label: "") }
            }
            return (s.trouble, s.last, s.journalView)
        }
        let label = "pid \(server.pid) runs; cannot connect: \(trouble ?? "no answer"); trying again"
        if var l = last ?? journal?.snapshot(query) {
            l.source = label
            return l
        }
        return Snapshot(
            time: SystemClock().now(), startedAt: SystemClock().now(), generation: 0, paused: false,
            totals: StatusCounts(), rate: 0, engines: [], batches: [], batchCount: 0, table: .empty,
            source: trouble != nil ? label : "ppdash (pid \(server.pid)) has ended; its journal cannot be read")
    }

    public func metadata(_ id: TaskID) -> TaskMetadata? {
        if let r = call(.metadata(id)) { return r.metadata }
        return fallback?.metadata(id) ?? state.withLock { $0.journalView }?.metadata(id)
    }

    public func submit(_ submission: Submission) throws -> BatchID { try ask(.submit(submission.line)).number ?? 0 }
    public func abort(task: TaskID) { _ = call(.abortTask(task)) }
    public func abort(batch: BatchID) { _ = call(.abortBatch(batch)) }
    public func retry(task: TaskID) throws { _ = try ask(.retryTask(task)) }
    public func retryFailed(batch: BatchID) throws -> Int { try ask(.retryFailed(batch)).number ?? 0 }
    public func setPaused(_ paused: Bool) { _ = call(.setPaused(paused)) }
    public func addEngine() throws -> EngineID { try ask(.addEngine).number ?? 0 }
    public func removeEngine(_ id: EngineID?) throws -> EngineID { try ask(.removeEngine(id)).number ?? 0 }

    public func stopAll() {
        if call(.stop) != nil { state.withLock { $0.stopped = true } }
    }

    /// The serving ppdash's failed tasks as its triage groups them, or the journal's once it has ended.
    public func failureGroups() -> [FailureGroup]? {
        if let r = call(.failureGroups) { return r.error == nil ? r.failureGroups : nil }
        return fallback?.failureGroups()
    }

    public func setExcluded(engine: EngineID, _ excluded: Bool) throws { _ = try ask(.setExcluded(engine, excluded)) }

    /// Read-only once the serving ppdash has ended (the journal shows): the dashboard hides the keys that would
    /// change the work.
    public var readOnly: Bool { isReadOnly }
}
