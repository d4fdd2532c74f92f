import NIOCore
import NIOPosix
import Synchronization

/// Accepts `ppdash engine --connect` workers on a TCP port and adds each one that proves the token to a scheduler.
///
/// A connection that sends garbage, an oversized frame, another protocol version, a wrong or missing proof, or
/// nothing within `handshakeTimeout`, is refused with a logged reason and closed; the listener keeps serving.
public final class EngineListener: Sendable {
    /// The address actually bound (the port is the real one when 0 was asked).
    public let host: String
    public let port: Int
    /// The token file a worker reads.
    public let tokenPath: String
    private let channel: any Channel

    /// Seconds a connection has to prove the token.
    public static let handshakeTimeout: Int64 = 5

    /// Binds `bind:port` (0: any free port) and starts accepting; engines go to `scheduler`, or to `admit` when
    /// given. With a `keyring`, a worker proves one of its tokens (each admits one worker) instead of `token`.
    public init(
        scheduler: Scheduler, bind: String = "127.0.0.1", port: Int = 0, token: EngineToken?, tokenPath: String,
        options: RemoteEngineOptions = RemoteEngineOptions(), keyring: EngineKeyring? = nil,
        admit: (@Sendable (RemoteEngine) -> Void)? = nil
    ) throws(PPError) {
        self.tokenPath = tokenPath
        let log = options.log
        do {
            channel = try ServerBootstrap(group: WireLoops.group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { child in
                    child.eventLoop.makeCompletedFuture {
                        let peer = child.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                        let decoder = WireFrameDecoder(limit: WireProtocol.maxHandshakeFrame)
                        let link = WireLinkHandler(delegate: nil)
                        try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                        try child.pipeline.syncOperations.addHandler(link)
                        let challenge = EngineToken.nonce()
                        let bound = NIOLoopBound(decoder, eventLoop: child.eventLoop)
                        let accepted: @Sendable (RemoteEngine) -> Void = { engine in
                            // Known now: let it send results as large as any.
                            bound.value.parser.limit = WireProtocol.maxFrame
                            if let admit { admit(engine) } else { scheduler.addEngine(engine) }
                        }
                        let refused: @Sendable (String) -> Void = { why in
                            log("ppdash: refused an engine connection from \(peer): \(why)")
                        }
                        let engine = RemoteEngine(
                            kind: .connected, host: peer, channel: child, process: nil,
                            highWaterMark: options.highWaterMark, heartbeat: options.heartbeat,
                            admission: .init(
                                token: token, keyring: keyring, challenge: challenge, accepted: accepted, refused: refused),
                            log: log)
                        link.attach(engine)
                        engine.outbox.send(.challenge(nonce: challenge))
                        child.eventLoop.scheduleTask(in: .seconds(Self.handshakeTimeout)) {
                            if engine.isAwaitingHello { engine.fail("no hello within \(Self.handshakeTimeout) s") }
                        }
                    }
                }
                .bind(host: bind, port: port).wait()
        } catch {
            throw PPError(.invalidArgument, "cannot listen for engines on \(bind):\(port): \(Messages.text(of: error))")
        }
        host = bind
        self.port = channel.localAddress?.port ?? port
        // Engines may join at any time: tasks wait for them even when every engine so far has died (a keyring's
        // engines are expected ones: their owner says when none can come).
        if keyring == nil { scheduler.waitsForEngines = true }
    }

    /// The command to run where a worker should start, e.g. `ppdash engine --connect 127.0.0.1:7000 --token-file F`.
    public func connectCommand(host shown: String? = nil) -> String {
        var h = shown ?? host
        if h == "0.0.0.0" || h == "::" { h = hostName() }
        if h.contains(":") { h = "[\(h)]" }
        return "ppdash engine --connect \(h):\(port) --token-file \(Template.quote(tokenPath))"
    }

    /// Stops accepting; engines already in stay.
    public func close() { channel.close(promise: nil) }
}
