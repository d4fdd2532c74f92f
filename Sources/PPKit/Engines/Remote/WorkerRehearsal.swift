import Foundation
import NIOCore
import NIOPosix
import PPSystem
import Synchronization

/// The event loop of a worker process: one thread. A worker has one link, and a channel lives on one loop, so the
/// second loop of NIO's shared group (one per core) would be a thread started for nothing in every worker.
enum WorkerLoop {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
}

extension EngineWorker {
    /// For the fork server of proc workers, once, before it forks any: plays a worker's start on this thread (a
    /// pipe channel over a socketpair with the worker's handlers, a hello and heartbeat out, a welcome and a heartbeat
    /// in, the channel closed at the peer's end, an engine made and not started), so that the runtime's caches
    /// (type metadata, protocol conformances, the loader's lazy bindings) are filled here and every forked worker
    /// inherits them instead of filling them again.
    ///
    /// The loop runs on the calling thread (`withCurrentThreadAsEventLoop`) and no other thread is started, so the
    /// server still has one thread when it forks; its caller checks that (`ForkServer.serve` refuses otherwise).
    /// Returns whether the rehearsal ran to the channel's close (it is only an optimisation: failing costs nothing).
    @discardableResult
    public static func rehearseStart() -> Bool {
        // What a worker's session makes before its hello: the engine's facts (host name, cores), the directory check.
        _ = InProcessEngine().info
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: "/", isDirectory: &isDir)
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            return false
        }
        let ours = pair[0]
        let peer = pair[1]
        let ourOutput = fcntl(ours, F_DUPFD_CLOEXEC, 3)
        guard ourOutput >= 0 else {
            close(ours)
            close(peer)
            return false
        }
        // The scheduler's side, written before the loop starts: the channel reads it, then the end of the stream.
        var inbound = ByteBuffer()
        WireMessage.welcome(WireWelcome(heartbeatMillis: 1000)).encode(into: &inbound)
        WireMessage.heartbeat.encode(into: &inbound)
        let written = inbound.withUnsafeReadableBytes { write(peer, $0.baseAddress, $0.count) }
        shutdown(peer, Int32(SHUT_WR))
        // A loop of its own, on a thread of its own: the worker's loop (`WorkerLoop`) stays untouched for the
        // children. It is stopped below, and the server waits for its thread to be gone before it forks.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        Rehearsals.keep(group)
        var ran = false
        do {
            let channel = try NIOPipeBootstrap(group: group)
                .channelInitializer { EngineWorker.addLinkHandlers(to: $0) }
                .takingOwnershipOfDescriptors(input: ours, output: ourOutput).wait()
            // Never a server stuck here: the peer's end closes the channel at once; this is a backstop.
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            let outbox = WireOutbox(channel: channel)
            outbox.send(.hello(WireHello(host: "rehearsal", pid: getpid(), cores: 1, nonce: [], proof: [])))
            outbox.send(.heartbeat)
            try? channel.closeFuture.wait()
            ran = true
        } catch {
            close(ours)
            close(ourOutput)
        }
        // Stopped without a join: joining goes through Dispatch's global queue, whose threads would outlive it. The
        // loop ends and its thread exits; the completion waits on the main queue, which this process never runs.
        group.shutdownGracefully(queue: .main) { _ in }
        // What the channel wrote: read and dropped (the peer only makes the link real).
        var drain = [UInt8](repeating: 0, count: 4096)
        while (drain.withUnsafeMutableBytes { read(peer, $0.baseAddress, $0.count) }) > 0 {}
        close(peer)
        return written == inbound.readableBytes && ran
    }
}

/// The rehearsals' loop groups, kept for the process's life: a group's thread that was never joined must not be
/// released (NIO traps on a thread released without a join).
private enum Rehearsals {
    private static let groups = Mutex<[MultiThreadedEventLoopGroup]>([])
    static func keep(_ group: MultiThreadedEventLoopGroup) { groups.withLock { $0.append(group) } }
}
