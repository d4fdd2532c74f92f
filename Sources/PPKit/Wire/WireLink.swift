import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// What a link tells its owner; called on the link's event loop.
protocol WireLinkDelegate: AnyObject, Sendable {
    func linkReceived(_ message: WireMessage)
    /// The link is gone: `reason` says why when it was not a plain end of input.
    func linkClosed(reason: String?)
}

/// Sends frames on a channel from any thread, coalescing what is sent in one event-loop turn into one write. While
/// the channel is not writable (the peer reads slowly) frames gather here and go out when it is again.
final class WireOutbox: Sendable {
    let channel: any Channel
    private let pending = Mutex<(buffer: ByteBuffer, scheduled: Bool)>((ByteBuffer(), false))

    init(channel: any Channel) {
        self.channel = channel
        channel.pipeline.addHandler(WritabilityWatcher(outbox: self), position: .last).whenFailure { _ in }
    }

    func send(_ message: WireMessage) {
        let schedule = pending.withLock { p -> Bool in
            message.encode(into: &p.buffer)
            defer { p.scheduled = true }
            return !p.scheduled
        }
        if schedule { channel.eventLoop.execute { self.flush() } }
    }

    /// Writes what is pending, on the event loop; while the channel is not writable it stays scheduled and the
    /// writability change writes it (`force`: write anyway, the link is closing).
    fileprivate func flush(force: Bool = false) {
        guard force || channel.isWritable else { return }
        let buffer = pending.withLock { p -> ByteBuffer in
            let b = p.buffer
            p.buffer = ByteBuffer()
            p.scheduled = false
            return b
        }
        if buffer.readableBytes > 0 { channel.writeAndFlush(buffer, promise: nil) }
    }

    /// Bytes sent and not yet handed to the channel (they wait while the peer reads slowly).
    var backlog: Int { pending.withLock { $0.buffer.readableBytes } }

    /// Blocks the calling thread (never an event loop) while more than `limit` bytes wait to go out and the link is
    /// up: a producer that outruns the link (a task's output flood) is slowed to the link's pace instead of growing
    /// memory. Polls every millisecond: the wait is the link's, not the CPU's.
    func waitForRoom(below limit: Int) {
        while backlog > limit && channel.isActive {
            var ts = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&ts, nil)
        }
    }

    /// Sends `message`, then closes the link once it is written.
    func sendThenClose(_ message: WireMessage) {
        send(message)
        channel.eventLoop.execute {
            self.flush(force: true)
            self.channel.close(promise: nil)
        }
    }

    func close() { channel.close(promise: nil) }
}

/// Tells an outbox when its channel becomes writable again.
private final class WritabilityWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = Never
    let outbox: WireOutbox

    init(outbox: WireOutbox) { self.outbox = outbox }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { outbox.flush() }
        context.fireChannelWritabilityChanged()
    }
}

/// Hands decoded messages and the link's end to a delegate; refused bytes close the link with their reason.
final class WireLinkHandler: ChannelInboundHandler {
    typealias InboundIn = WireMessage
    /// Set on the event loop; messages that come before it is set are held (a hello racing its reader).
    private var delegate: (any WireLinkDelegate)?
    private var held: [WireMessage] = []
    private var failure: String?
    private var closed = false

    init(delegate: (any WireLinkDelegate)?) { self.delegate = delegate }

    /// Attaches the delegate (on the event loop), delivering anything held for it.
    func attach(_ d: any WireLinkDelegate) {
        delegate = d
        let h = held
        held = []
        for m in h { d.linkReceived(m) }
        if closed { d.linkClosed(reason: failure) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let m = unwrapInboundIn(data)
        if let delegate { delegate.linkReceived(m) } else { held.append(m) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = Self.describe(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        delegate?.linkClosed(reason: failure)
        context.fireChannelInactive()
    }

    /// A refused frame or a failed link, in words.
    static func describe(_ error: any Error) -> String {
        if let w = error as? WireError { return "protocol error: \(w.message)" }
        if let io = error as? IOError { return "link error: \(io.description)" }
        return "link error: \(error)"
    }
}

/// The event loops every engine link runs on: one per core, shared by the process.
enum WireLoops {
    static var group: MultiThreadedEventLoopGroup { .singleton }
}
