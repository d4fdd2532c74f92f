// The attach side: a dashboard source speaking to a running ppdash's state socket.
import Foundation
import PPAttach
import PPKit
import PPSource
import Synchronization

/// Snapshots and commands over a running ppdash's state socket; when that ppdash ends, the view carries on from its
/// journal, read-only, and says so in the header.
public final class SocketSource: DashboardSource {
    public let socketPath: String
    public let journalPath: String
    /// The server's answer to hello.
    public let server: ServerInfo
    private struct State {
        var connection: AttachConnection?
        var fallback: JournalSource?
        /// The batch was stopped from this view (`Q`).
        var stopped = false
    }
    private let state: Mutex<State>

    /// Connects and says hello; throws a readable reason (nobody listens, another protocol version).
    public init(socket: String, journal: String) throws(JournalError) {
        socketPath = socket
        journalPath = journal
        let connection: AttachConnection
        do {
            connection = try AttachConnection.connect(socket)
        } catch {
            throw JournalError(.cannotRead, "cannot connect to \(socket): \(error.description)")
        }
        guard let reply = connection.request(.hello(version: attachProtocolVersion)) else {
            connection.close()
            throw JournalError(.cannotRead, "the ppdash at \(socket) did not answer")
        }
        if let e = reply.error {
            connection.close()
            throw JournalError(.cannotRead, e)
        }
        guard let info = reply.server else {
            connection.close()
            throw JournalError(.cannotRead, "the ppdash at \(socket) did not say who it is")
        }
        server = info
        state = Mutex(State(connection: connection))
    }

    deinit {
        state.withLock { $0.connection?.close() }
    }

    /// The connection is gone: the view shows the journal now.
    public var isReadOnly: Bool { state.withLock { $0.fallback != nil } }
    /// `Q` stopped the batch from this view.
    public var stoppedBatch: Bool { state.withLock { $0.stopped } }

    /// Sends one request and waits for its reply; nil when the connection is gone (then the journal takes over).
    private func call(_ request: AttachRequest) -> AttachReply? {
        state.withLock { s -> AttachReply? in
            guard s.fallback == nil, let connection = s.connection else { return nil }
            if let reply = connection.request(request) { return reply }
            connection.close()
            s.connection = nil
            s.fallback = Self.readOnly(journalPath, pid: server.pid)
            return nil
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
            throw PPError(.invalidState, "ppdash (pid \(server.pid)) has ended: this view is read-only now")
        }
        if let e = reply.error { throw PPError(.invalidState, e) }
        return reply
    }

    public func snapshot(_ query: TableQuery) -> Snapshot {
        if let r = call(.snapshot(query)), var s = r.snapshot {
            s.source = "attached (pid \(server.pid))"
            return s
        }
        if let f = fallback { return f.snapshot(query) }
        return Snapshot(
            time: SystemClock().now(), startedAt: SystemClock().now(), generation: 0, paused: false,
            totals: StatusCounts(), rate: 0, engines: [], batches: [], batchCount: 0, table: .empty,
            source: "ppdash (pid \(server.pid)) has ended; its journal cannot be read")
    }

    public func metadata(_ id: TaskID) -> TaskMetadata? {
        if let r = call(.metadata(id)) { return r.metadata }
        return fallback?.metadata(id)
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
}
