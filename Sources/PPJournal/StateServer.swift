// The state socket: a running ppdash serves snapshots and takes commands from attached views.
import Foundation
import PPKit
import PPSource
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The attach protocol's version; both ends must speak the same.
public let attachProtocolVersion = 1

/// Who serves a state socket.
public struct ServerInfo: Codable, Sendable, Hashable {
    public var protocolVersion: Int
    public var pid: Int32
    public var host: String
    public var journal: String
    public var ppdash: String
    public init(journal: String, ppdash: String) {
        protocolVersion = attachProtocolVersion
        pid = SystemFacts.pid
        host = SystemFacts.hostName
        self.journal = journal
        self.ppdash = ppdash
    }
}

/// What an attached view asks: one JSON line per request, one reply line each.
public enum AttachRequest: Codable, Sendable, Hashable {
    case hello(version: Int)
    case snapshot(TableQuery)
    case metadata(TaskID)
    case submit(String)
    case abortTask(TaskID)
    case abortBatch(BatchID)
    case retryTask(TaskID)
    case retryFailed(BatchID)
    case setPaused(Bool)
    case addEngine
    case removeEngine(EngineID?)
    case stop
}

/// The reply to one request: an error, or the value asked for.
public struct AttachReply: Codable, Sendable {
    public var error: String?
    public var snapshot: Snapshot?
    public var metadata: TaskMetadata?
    public var number: Int?
    public var server: ServerInfo?
    public init(
        error: String? = nil, snapshot: Snapshot? = nil, metadata: TaskMetadata? = nil, number: Int? = nil,
        server: ServerInfo? = nil
    ) {
        self.error = error
        self.snapshot = snapshot
        self.metadata = metadata
        self.number = number
        self.server = server
    }
}

/// Serves a `DashboardSource` on a Unix socket (mode 0600, this user only) to any number of attached views.
///
/// Each viewer has its own thread and asks for one frame at a time, so a viewer never has more than one reply
/// queued; a viewer that stops reading for 2 s is dropped. The scheduler never waits for a viewer: a frame is the
/// same snapshot the local dashboard takes.
public final class StateServer: Sendable {
    public let path: String
    public let info: ServerInfo
    private let source: any DashboardSource
    private struct State {
        var listenFD: Int32
        var clients: Set<Int32> = []
        var stopped = false
        var served = 0
    }
    private let state: Mutex<State>
    /// Written to wake the accept loop at `stop`.
    private let wakeFD: (read: Int32, write: Int32)
    /// The most viewers at once.
    public static let maxViewers = 16

    /// Listens on `path`; a socket left by a dead process is replaced and `note` says so.
    public init(
        path: String, source: any DashboardSource, info: ServerInfo, note: @escaping @Sendable (String) -> Void
    ) throws(UnixSocket.Failure) {
        let dir = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: dir) {
            try? FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let (fd, previous) = try UnixSocket.listen(path)
        if previous == .staleRemoved {
            note("ppdash: replaced the socket \(path): the ppdash that made it is gone")
        }
        var p: [Int32] = [-1, -1]
        guard pipe(&p) == 0 else {
            let e = errno
            close(fd)
            unlink(path)
            throw UnixSocket.Failure(call: "pipe", code: e)
        }
        for x in p { _ = fcntl(x, F_SETFD, FD_CLOEXEC) }
        self.path = path
        self.info = info
        self.source = source
        self.wakeFD = (p[0], p[1])
        self.state = Mutex(State(listenFD: fd))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Viewers connected now.
    public var viewerCount: Int { state.withLock { $0.clients.count } }

    /// Stops listening, removes the socket and ends every viewer's connection. Idempotent.
    public func stop() {
        let (fd, clients) = state.withLock { s -> (Int32, Set<Int32>) in
            guard !s.stopped else { return (-1, []) }
            s.stopped = true
            return (s.listenFD, s.clients)
        }
        guard fd >= 0 else { return }
        var one: UInt8 = 1
        _ = write(wakeFD.write, &one, 1)
        unlink(path)
        for c in clients { shutdown(c, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        let listenFD = state.withLock { $0.listenFD }
        defer {
            close(listenFD)
            close(wakeFD.read)
            close(wakeFD.write)
        }
        while true {
            var fds = [
                pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD.read, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, 2, -1)
            if n < 0 && errno == EINTR { continue }
            if fds[1].revents != 0 || state.withLock({ $0.stopped }) { return }
            guard fds[0].revents != 0 else { continue }
            let c = accept(listenFD, nil, nil)
            guard c >= 0 else { continue }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            guard UnixSocket.peerUID(c) == SystemFacts.uid else {
                close(c)  // another user: the socket's mode should already have stopped them
                continue
            }
            let admitted = state.withLock { s -> Bool in
                guard !s.stopped, s.clients.count < StateServer.maxViewers else { return false }
                s.clients.insert(c)
                return true
            }
            guard admitted else {
                _ = UnixSocket.sendAll(c, encodeLine(AttachReply(error: "too many viewers attached (at most \(StateServer.maxViewers))")))
                close(c)
                continue
            }
            UnixSocket.setTimeouts(c, send: 2, receive: 0)
            Thread.detachNewThread { [self] in
                serve(c)
                state.withLock { _ = $0.clients.remove(c) }
                close(c)
            }
        }
    }

    /// One viewer: read a request, answer it, until it leaves or stalls.
    private func serve(_ fd: Int32) {
        var reader = LineReader(fd: fd)
        let decoder = JSONDecoder()
        while let line = reader.next() {
            let reply: AttachReply
            do {
                reply = handle(try decoder.decode(AttachRequest.self, from: Data(line)))
            } catch {
                reply = AttachReply(error: "not a request this ppdash understands (attach protocol \(attachProtocolVersion))")
            }
            guard UnixSocket.sendAll(fd, encodeLine(reply)) else { return }
        }
    }

    private func handle(_ request: AttachRequest) -> AttachReply {
        do {
            switch request {
            case .hello(let version):
                guard version == attachProtocolVersion else {
                    return AttachReply(
                        error:
                            "the running ppdash (pid \(info.pid), \(info.ppdash)) speaks attach protocol \(attachProtocolVersion), this one \(version): attach with the same ppdash version",
                        server: info)
                }
                return AttachReply(server: info)
            case .snapshot(let query):
                return AttachReply(snapshot: source.snapshot(query))
            case .metadata(let id):
                return AttachReply(metadata: source.metadata(id))
            case .submit(let line):
                return AttachReply(number: try source.submit(line: line))
            case .abortTask(let id):
                source.abort(task: id)
            case .abortBatch(let b):
                source.abort(batch: b)
            case .retryTask(let id):
                try source.retry(task: id)
            case .retryFailed(let b):
                return AttachReply(number: try source.retryFailed(batch: b))
            case .setPaused(let p):
                source.setPaused(p)
            case .addEngine:
                return AttachReply(number: try source.addEngine())
            case .removeEngine(let id):
                return AttachReply(number: try source.removeEngine(id))
            case .stop:
                source.stopAll()
            }
            return AttachReply()
        } catch {
            return AttachReply(error: String(describing: error))
        }
    }
}

/// One message as a JSON line.
func encodeLine<T: Encodable>(_ value: T) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    var bytes = (try? [UInt8](encoder.encode(value))) ?? Array("{\"error\":\"cannot encode the reply\"}".utf8)
    bytes.append(10)
    return bytes
}
