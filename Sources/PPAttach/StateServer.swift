// The state socket: a running ppdash serves snapshots and takes commands from attached views.
import Foundation
import Glibc
import NIOCore
import NIOPosix
import PPKit
import PPSource
import Synchronization

/// Serves a `DashboardSource` on a Unix socket (mode 0600, this user only) to any number of attached views.
///
/// A viewer asks for one frame at a time and nothing more is read from it until its reply is written, so a viewer
/// never has more than one reply queued; a viewer that stops reading for 2 s is dropped, and so is one that asks
/// nothing for `idleLimit` (10 s: a dashboard asks every refresh, 0.1 s by default). When all `maxViewers` places
/// are taken, a new viewer takes the place of the one idle longest, if that one has asked nothing for
/// `evictAfter` (1 s); else it is told why it is refused, in reply to its first request. Requests are answered
/// on NIO's thread pool, never on an event loop, and the scheduler never waits for a viewer: a frame is the same
/// snapshot the local dashboard takes.
public final class StateServer: Sendable {
    public let path: String
    public let info: ServerInfo
    let source: any DashboardSource
    private struct State {
        var listener: (any Channel)?
        var viewers: [ObjectIdentifier: Viewer] = [:]
        var stopped = false
        var sweeper: RepeatedTask?
    }
    private struct Viewer {
        var channel: any Channel
        var lastRequest: NIODeadline
    }
    private let state: Mutex<State>
    /// The most viewers at once.
    public static let maxViewers = 16
    /// How long a reply may wait for a viewer that does not read before the viewer is dropped.
    static let stallLimit = TimeAmount.seconds(2)
    /// A viewer that asks nothing for this long is dropped.
    public let idleLimit: TimeAmount
    /// When the server is full, a viewer idle this long gives its place to a new one.
    public let evictAfter: TimeAmount

    /// Listens on `path`; a socket left by a dead process is replaced and `note` says so.
    public init(
        path: String, source: any DashboardSource, info: ServerInfo, idleLimit: TimeAmount = .seconds(10),
        evictAfter: TimeAmount = .seconds(1), note: @escaping @Sendable (String) -> Void
    ) throws(UnixSocket.Failure) {
        guard path.utf8.count < UnixSocket.maxPathLength else {
            throw UnixSocket.Failure(call: "socket path too long", code: ENAMETOOLONG)
        }
        let dir = (path as NSString).deletingLastPathComponent
        var st = stat()
        if lstat(dir, &st) != 0 {
            try? FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // Owner, mode, no symlink: another user must not be able to put or replace a socket where ours goes.
        if let why = SocketDirectory.problem(with: dir.isEmpty ? "." : dir) {
            throw UnixSocket.Failure(call: "unsafe socket directory: \(why)", code: 0)
        }
        self.path = path
        self.idleLimit = idleLimit
        self.evictAfter = evictAfter
        self.info = info
        self.source = source
        self.state = Mutex(State())
        if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType {
            guard type == .typeSocket else {
                throw UnixSocket.Failure(call: "\(path) exists and is no socket", code: EEXIST)
            }
            if let why = SocketDirectory.problem(withSocket: path) {
                throw UnixSocket.Failure(call: "unsafe socket: \(why)", code: 0)
            }
            if AttachConnection.isListening(path) {
                throw UnixSocket.Failure(call: "another ppdash listens on \(path)", code: EADDRINUSE)
            }
            try? FileManager.default.removeItem(atPath: path)
            note("ppdash: replaced the socket \(path): the ppdash that made it is gone")
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ViewerHandler(server: self))
                }
            }
        do {
            let listener = try bootstrap.bind(unixDomainSocketPath: path).wait()
            // Owner only; a peer of another user that connects before this is refused by its credentials.
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            let loop = listener.eventLoop
            let sweeper = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
                dropIdle()
            }
            state.withLock {
                $0.listener = listener
                $0.sweeper = sweeper
            }
        } catch let e as IOError {
            throw UnixSocket.Failure(call: "bind \(path)", code: e.errnoCode)
        } catch {
            throw UnixSocket.Failure(call: "bind \(path): \(Messages.text(of: error))", code: 0)
        }
    }

    /// Viewers connected now.
    public var viewerCount: Int { state.withLock { $0.viewers.count } }

    /// Stops listening, removes the socket and ends every viewer's connection. Idempotent.
    public func stop() {
        let (listener, viewers) = state.withLock { s -> ((any Channel)?, [any Channel]) in
            guard !s.stopped else { return (nil, []) }
            s.stopped = true
            s.sweeper?.cancel()
            defer { s.viewers = [:] }
            return (s.listener, s.viewers.values.map(\.channel))
        }
        guard let listener else { return }
        try? FileManager.default.removeItem(atPath: path)  // no new viewer finds it
        if MultiThreadedEventLoopGroup.currentEventLoop == nil {
            try? listener.close().wait()
        } else {
            listener.close(promise: nil)  // never block an event loop
        }
        for v in viewers { v.close(promise: nil) }
    }

    /// Admits a new viewer unless the server stopped or is full of viewers that asked something within `evictAfter`
    /// (the one idle longest gives way); nil when admitted, else why not.
    func admit(_ channel: any Channel) -> String? {
        let now = NIODeadline.now()
        let (why, evicted) = state.withLock { s -> (String?, (any Channel)?) in
            guard !s.stopped else { return ("this ppdash is ending", nil) }
            var evicted: (any Channel)?
            if s.viewers.count >= StateServer.maxViewers {
                guard let idlest = s.viewers.min(by: { $0.value.lastRequest < $1.value.lastRequest }),
                    idlest.value.lastRequest + evictAfter <= now
                else {
                    return ("too many viewers attached (at most \(StateServer.maxViewers), all active): try again later", nil)
                }
                evicted = s.viewers.removeValue(forKey: idlest.key)?.channel
            }
            s.viewers[ObjectIdentifier(channel)] = Viewer(channel: channel, lastRequest: now)
            return (nil, evicted)
        }
        evicted?.close(promise: nil)
        return why
    }

    /// A viewer asked something.
    func touch(_ channel: any Channel) {
        state.withLock { $0.viewers[ObjectIdentifier(channel)]?.lastRequest = .now() }
    }

    /// Drops the viewers that asked nothing for `idleLimit`.
    private func dropIdle() {
        let limit = NIODeadline.now() - idleLimit
        let idle = state.withLock { s -> [any Channel] in
            let gone = s.viewers.filter { $0.value.lastRequest < limit }
            for k in gone.keys { s.viewers[k] = nil }
            return gone.values.map(\.channel)
        }
        for c in idle { c.close(promise: nil) }
    }

    func leave(_ channel: any Channel) {
        state.withLock { _ = $0.viewers.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Answers one request line.
    func answer(_ line: [UInt8]) -> [UInt8] {
        guard let request = decodeLine(AttachRequest.self, line) else {
            return encodeLine(
                AttachReply(error: "not a request this ppdash understands (attach protocol \(attachProtocolVersion))"))
        }
        return encodeLine(handle(request))
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
            case .failureGroups:
                return AttachReply(failureGroups: source.failureGroups())
            case .setExcluded(let engine, let excluded):
                try source.setExcluded(engine: engine, excluded)
            }
            return AttachReply()
        } catch {
            return AttachReply(error: Messages.text(of: error))
        }
    }
}

/// One viewer's connection: reads one request line, answers it off the event loop, writes the reply, then reads
/// the next. Nothing is read while a reply is pending, so a viewer that floods requests only fills its own socket.
final class ViewerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: StateServer
    private var lines = LineFramer()
    private var busy = false
    /// Why this viewer is refused: the reply to its first request, then the connection ends.
    private var refusal: String?

    init(server: StateServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        PeerCredentials.uid(of: context.channel).whenComplete { uid in
            let (me, context) = bound.value
            me.admit(context, peer: try? uid.get())
        }
    }

    private func admit(_ context: ChannelHandlerContext, peer: UInt32?) {
        let channel = context.channel
        guard channel.isActive else { return }  // gone before its credentials were read
        guard peer == geteuid() else {
            context.close(promise: nil)  // another user: the socket's mode should already have stopped them
            return
        }
        // A refused viewer is told why in reply to its first request (a line written before it asks may be lost:
        // its own write to a closed socket ends its connection before it reads).
        refusal = server.admit(channel)
        if refusal != nil {
            // One that never asks is not kept either.
            context.eventLoop.scheduleTask(in: server.idleLimit) { channel.close(promise: nil) }
        }
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.leave(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard lines.append(&buffer) else {
            context.close(promise: nil)  // a line beyond the limit: a peer gone mad
            return
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        next(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Answers the next complete line, or asks for more bytes.
    private func next(_ context: ChannelHandlerContext) {
        guard !busy else { return }
        guard let line = lines.next() else {
            context.read()
            return
        }
        busy = true
        if let refusal {
            let reply = encodeLine(AttachReply(error: refusal))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: reply))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        server.touch(context.channel)
        let loop = context.eventLoop
        let server = self.server
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { server.answer(line) }.whenComplete { result in
            let (me, context) = bound.value
            guard case .success(let reply) = result, context.channel.isActive else {
                context.close(promise: nil)
                return
            }
            let stall = loop.scheduleTask(in: StateServer.stallLimit) { bound.value.1.close(promise: nil) }
            context.writeAndFlush(me.wrapOutboundOut(context.channel.allocator.buffer(bytes: reply))).whenComplete {
                written in
                let (me, context) = bound.value
                stall.cancel()
                me.busy = false
                if case .success = written { me.next(context) }
            }
        }
    }
}

/// The uid of the process at the other end of a Unix socket (SO_PEERCRED).
enum PeerCredentials {
    /// `struct ucred`.
    struct Credentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
    static func uid(of channel: any Channel) -> EventLoopFuture<UInt32> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let f: EventLoopFuture<Credentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return f.map(\.uid)
    }
}

/// Splits a byte stream into newline-terminated lines.
struct LineFramer {
    private var pending = ByteBuffer()
    /// A message longer than this ends the connection (a peer gone mad).
    static let maxLine = 64 << 20

    /// Adds bytes; false when an unfinished line grew beyond `maxLine`.
    mutating func append(_ buffer: inout ByteBuffer) -> Bool {
        pending.writeBuffer(&buffer)
        return pending.readableBytes <= LineFramer.maxLine || pending.readableBytesView.contains(10)
    }

    /// The next whole line, without its newline.
    mutating func next() -> [UInt8]? {
        guard let nl = pending.readableBytesView.firstIndex(of: 10) else {
            pending.discardReadBytes()
            return nil
        }
        let line = pending.readBytes(length: nl - pending.readerIndex)
        pending.moveReaderIndex(forwardBy: 1)
        return line
    }
}
