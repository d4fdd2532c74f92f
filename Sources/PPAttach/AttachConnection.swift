// The client end of the state socket: one request line out, one reply line back.
import Dispatch
import Glibc
import NIOCore
import NIOPosix
import PPKit
import Synchronization

/// A connection to a running ppdash's state socket, used from ordinary threads (never from an event loop):
/// `call` writes a request and waits for the reply line.
public final class AttachConnection: Sendable {
    private let channel: any Channel
    private let inbox: Inbox

    /// Lines received and not yet taken; `closed` once the server is gone.
    final class Inbox: Sendable {
        struct State {
            var lines: [[UInt8]] = []
            var head = 0
            var closed = false
        }
        let state = Mutex(State())
        let arrived = DispatchSemaphore(value: 0)

        func add(_ line: [UInt8]) {
            state.withLock { $0.lines.append(line) }
            arrived.signal()
        }
        func close() {
            state.withLock { $0.closed = true }
            arrived.signal()
        }
        /// The next line, or nil when the connection closed or `deadline` passed.
        func next(until deadline: DispatchTime) -> [UInt8]? {
            while true {
                let (line, closed) = state.withLock { s -> ([UInt8]?, Bool) in
                    guard s.head < s.lines.count else {
                        s.lines.removeAll(keepingCapacity: true)
                        s.head = 0
                        return (nil, s.closed)
                    }
                    s.head += 1
                    return (s.lines[s.head - 1], false)
                }
                if let line { return line }
                if closed || arrived.wait(timeout: deadline) == .timedOut { return nil }
            }
        }
    }

    /// Frames the server's replies into the inbox.
    final class ReplyHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        var lines = LineFramer()
        init(inbox: Inbox) { self.inbox = inbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            guard lines.append(&buffer) else {
                context.close(promise: nil)
                return
            }
            while let line = lines.next() { inbox.add(line) }
        }
        func channelInactive(context: ChannelHandlerContext) { inbox.close() }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Connects to `path`; throws why not (ECONNREFUSED: nobody listens, the owner died).
    public static func connect(_ path: String, timeout: Double = 5) throws(UnixSocket.Failure) -> AttachConnection {
        guard path.utf8.count < UnixSocket.maxPathLength else {
            throw UnixSocket.Failure(call: "socket path too long", code: 36)  // ENAMETOOLONG
        }
        // Never through a symlink or another user's directory or socket.
        if let why = SocketDirectory.problem(withSocket: path) {
            throw UnixSocket.Failure(call: "refusing the socket: \(why)", code: 0)
        }
        let inbox = Inbox()
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout * 1000)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(inbox: inbox))
                }
            }
        do {
            let channel = try bootstrap.connect(unixDomainSocketPath: path).wait()
            // Who serves it (SO_PEERCRED): only a process of this user is trusted to answer as the batch.
            let uid: UInt32
            do { uid = try PeerCredentials.uid(of: channel).wait() } catch {
                channel.close(promise: nil)
                throw UnixSocket.Failure(call: "cannot tell who serves \(path) (SO_PEERCRED): refusing it", code: 0)
            }
            guard uid == geteuid() else {
                channel.close(promise: nil)
                throw UnixSocket.Failure(call: "\(path) is served by uid \(uid), not by you (uid \(geteuid())): refusing it", code: 0)
            }
            return AttachConnection(channel: channel, inbox: inbox)
        } catch let e as UnixSocket.Failure {
            throw e
        } catch let e as IOError {
            throw UnixSocket.Failure(call: "connect", code: e.errnoCode)
        } catch {
            throw UnixSocket.Failure(call: "connect: \(Messages.text(of: error))", code: 0)
        }
    }

    /// Whether a process listens on `path` now.
    static func isListening(_ path: String) -> Bool {
        guard let c = try? connect(path, timeout: 2) else { return false }
        c.close()
        return true
    }

    deinit { channel.close(promise: nil) }

    /// Sends one request line and waits up to `timeout` seconds for the reply line; nil when the connection is
    /// gone or the server did not answer in time.
    public func call(_ request: [UInt8], timeout: Double = 10) -> [UInt8]? {
        // A closed channel fails the write; a line the server sent before closing (a refusal) is still read.
        channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil)
        return inbox.next(until: .now() + timeout)
    }

    public func close() { channel.close(promise: nil) }

    /// Sends a request and decodes its reply; nil when the connection is gone.
    public func request(_ r: AttachRequest) -> AttachReply? {
        guard let line = call(encodeLine(r)) else { return nil }
        return decodeLine(AttachReply.self, line)
    }
}
