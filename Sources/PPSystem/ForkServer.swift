// A fork server: one child process that paid the program's start-up once (exec, the dynamic loader, the runtime)
// and forks a copy of itself for each worker asked for, so 256 workers cost 256 forks, not 256 execs.
//
// The client side (the scheduler) sends each request with the worker's stdin, stdout and stderr (SCM_RIGHTS over a
// SOCK_SEQPACKET socketpair); the server forks, the child takes them as 0, 1 and 2 in a session of its own and
// returns from `serve` to become the worker. The server answers with the child's pid and a pidfd for it (opened
// before the server can reap it, so it never names a reused pid), and later with its exit status once reaped: the
// child is the server's, and `ChildProcess` learns how it ended from here (`ExitReporter`).
import CPPSys
import Dispatch
import Glibc
import Synchronization

/// Tells how a child that is not ours ended (a fork server reaped it).
public protocol ExitReporter: Sendable {
    /// Blocks until child `pid`'s wait status and usage are known; nil if they never will be (the reaper is gone).
    func awaitExit(of pid: pid_t) -> (status: Int32, usage: rusage)?
}

public final class ForkServer: ExitReporter {
    /// Message kinds, first Int32 of every record.
    enum Kind: Int32 {
        /// Client: fork one (with 3 descriptors). Server: its pid and errno (with its pidfd).
        case fork = 1
        /// Server: a child was reaped: pid, wait status, then its rusage.
        case exit = 2
        /// Server, once: ready (single-threaded, SIGCHLD watched).
        case ready = 3
        /// Server, once: cannot serve (the second field says why: threads found, or an errno).
        case refused = 4
    }

    /// Bytes of a record: 4 Int32s, then (exit records) a rusage.
    static let headerSize = 16
    static let recordSize = headerSize + MemoryLayout<rusage>.size

    /// Seconds a fork request waits for its answer.
    static let replyTimeout = 30

    /// The server process.
    public let process: ChildProcess
    /// Our end of the socketpair (close-on-exec: no task of ours inherits it, so the server sees our end go).
    private let socket: Int32
    /// Held for one request at a time: its sequence number.
    private let request = Mutex<Int32>(0)
    private let replied = DispatchSemaphore(value: 0)
    private let state = Mutex(State())

    private struct State {
        var reply: (seq: Int32, pid: pid_t, error: Int32, pidfd: Int32)?
        var exits: [pid_t: (status: Int32, usage: rusage)] = [:]
        var waiters: [pid_t: [DispatchSemaphore]] = [:]
        var gone = false
    }

    private init(process: ChildProcess, socket: Int32) {
        self.process = process
        self.socket = socket
    }

    /// Whether the server still serves (false once its socket ended: it died or refused).
    public var isServing: Bool { !state.withLock { $0.gone } }

    /// Starts `arguments` (its program must call `ForkServer.serve(socket: 3)`) and waits up to `timeout` seconds for
    /// it to say it is ready; nil if it cannot start or refuses (the caller then spawns as usual).
    public static func start(executable: String, arguments: [String], timeout: Double) -> ForkServer? {
        var sv: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0 else {
            return nil
        }
        let theirs = OwnedDescriptor(taking: sv[1])
        var plan = SpawnPlan(
            executable: executable, arguments: arguments,
            descriptors: [
                .open("/dev/null", flags: O_RDONLY, to: 0), .open("/dev/null", flags: O_WRONLY, to: 1),
                .open("/dev/null", flags: O_WRONLY, to: 2), .copy(theirs.raw, to: 3),
            ],
            grouping: .newSession)
        plan.searchPath = !executable.contains("/")
        guard let child = try? plan.spawn() else {
            Glibc.close(sv[0])
            return nil
        }
        theirs.close()
        // Its first word: ready, or refused (a thread found at start: fork would copy one thread of several).
        var header = [Int32](repeating: 0, count: recordSize / 4)
        var fds: [Int32] = [-1]
        let ms = Int32(clamping: Int64(max(0, min(timeout, 3600)) * 1000))
        let n =
            waitReadable(sv[0], milliseconds: ms)
            ? header.withUnsafeMutableBytes { ppsys_recv_with_fds(sv[0], $0.baseAddress, UInt(recordSize), &fds, 1) } : -1
        for fd in fds where fd >= 0 { Glibc.close(fd) }
        guard n >= headerSize, header[0] == Kind.ready.rawValue else {
            Glibc.close(sv[0])
            child.send(signal: SIGKILL)
            child.wait()
            return nil
        }
        let server = ForkServer(process: child, socket: sv[0])
        server.startReader()
        return server
    }

    /// A child of the server with `stdin`, `stdout` and `stderr` as its 0, 1 and 2 (ours stay ours), leading a new
    /// session. Throws EPIPE once the server is gone, or the errno of its fork.
    public func spawn(stdin: Int32, stdout: Int32, stderr: Int32) throws(Errno) -> ChildProcess {
        try request.withLock { (seq: inout Int32) throws(Errno) -> ChildProcess in
            seq &+= 1
            if state.withLock({ $0.gone }) { throw Errno(rawValue: EPIPE) }
            let words: [Int32] = [Kind.fork.rawValue, seq, 0, 0]
            let fds = [stdin, stdout, stderr]
            let sent = words.withUnsafeBytes { ppsys_send_with_fds(socket, $0.baseAddress, UInt(Self.headerSize), fds, 3) }
            guard sent == Self.headerSize else { throw Errno(rawValue: sent < 0 ? errno : EPIPE) }
            while true {
                // A server that stopped answering (stopped, wedged) is given up on: the caller spawns as usual.
                if replied.wait(timeout: .now() + .seconds(Self.replyTimeout)) == .timedOut {
                    throw Errno(rawValue: ETIMEDOUT)
                }
                let (reply, gone) = state.withLock { s in
                    defer { s.reply = nil }
                    return (s.reply, s.gone)
                }
                if let reply, reply.seq == seq {
                    guard reply.pid > 0 else {
                        if reply.pidfd >= 0 { Glibc.close(reply.pidfd) }
                        throw Errno(rawValue: reply.error != 0 ? reply.error : EAGAIN)
                    }
                    return ChildProcess(
                        pid: reply.pid, pidfd: OwnedDescriptor(taking: reply.pidfd), leadsGroup: true, reporter: self)
                }
                if let reply, reply.pidfd >= 0 { Glibc.close(reply.pidfd) }
                if gone { throw Errno(rawValue: EPIPE) }
            }
        }
    }

    public func awaitExit(of pid: pid_t) -> (status: Int32, usage: rusage)? {
        let signal = DispatchSemaphore(value: 0)
        let known = state.withLock { s -> (status: Int32, usage: rusage)?? in
            if let e = s.exits.removeValue(forKey: pid) { return .some(e) }
            if s.gone { return .some(nil) }
            s.waiters[pid, default: []].append(signal)
            return nil
        }
        if let known { return known }
        signal.wait()
        return state.withLock { $0.exits.removeValue(forKey: pid) }
    }

    /// Reads the server's records on a thread of its own until its socket ends.
    private func startReader() {
        startThread { [self] in
            var record = [Int32](repeating: 0, count: Self.recordSize / 4)
            var fds: [Int32] = [-1]
            while true {
                let n = record.withUnsafeMutableBytes {
                    ppsys_recv_with_fds(socket, $0.baseAddress, UInt(Self.recordSize), &fds, 1)
                }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard n >= Self.headerSize else { break }
                switch Kind(rawValue: record[0]) {
                case .fork:
                    state.withLock { s in
                        if let old = s.reply, old.pidfd >= 0 { Glibc.close(old.pidfd) }
                        s.reply = (record[1], record[2], record[3], fds[0])
                    }
                    replied.signal()
                case .exit where n >= Self.recordSize:
                    let usage = record.withUnsafeBytes { $0.load(fromByteOffset: Self.headerSize, as: rusage.self) }
                    let waiters = state.withLock { s -> [DispatchSemaphore] in
                        s.exits[record[1]] = (record[2], usage)
                        return s.waiters.removeValue(forKey: record[1]) ?? []
                    }
                    for w in waiters { w.signal() }
                    if fds[0] >= 0 { Glibc.close(fds[0]) }
                default:
                    if fds[0] >= 0 { Glibc.close(fds[0]) }
                }
            }
            let waiters = state.withLock { s -> [DispatchSemaphore] in
                s.gone = true
                defer { s.waiters = [:] }
                return s.waiters.values.flatMap { $0 }
            }
            replied.signal()
            for w in waiters { w.signal() }
            Glibc.close(socket)
            process.send(signal: SIGKILL)
            process.wait()
        }
    }

    // MARK: the server

    /// Serves fork requests on `socket` until it ends. Returns nil in a forked child (its 0, 1 and 2 are the
    /// request's, it leads a new session, no signal is blocked: it goes on as the worker), or the server's exit
    /// status once the client is gone. Call it before any thread starts: it refuses (status 3) otherwise.
    /// `childArguments`: what each child's command line shows (`ps`), in place of the server's (they must fit in
    /// its space).
    public static func serve(socket: Int32, childArguments: [String]) -> Int32? {
        func send(_ words: [Int32], fd: Int32 = -1) {
            var fds = [fd]
            _ = words.withUnsafeBytes { ppsys_send_with_fds(socket, $0.baseAddress, UInt($0.count), &fds, fd >= 0 ? 1 : 0) }
        }
        // fork copies only the calling thread: with another thread holding a lock, the child could wait forever.
        var threads = ppsys_thread_count()
        // A thread that has just ended (the worker rehearsal's loop, stopped before this) may be listed a moment
        // longer: a bounded wait for it, polled every millisecond.
        let deadline = SystemTime.monotonicNanoseconds() + 2_000_000_000
        while threads > 1 && SystemTime.monotonicNanoseconds() < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
            threads = ppsys_thread_count()
        }
        guard threads == 1 else {
            send([Kind.refused.rawValue, threads, 0, 0])
            return 3
        }
        let sigchld = ppsys_sigchld_fd()
        guard sigchld >= 0 else {
            send([Kind.refused.rawValue, 0, errno, 0])
            return 3
        }
        send([Kind.ready.rawValue, 0, getpid(), 0])
        var record = [Int32](repeating: 0, count: recordSize / 4)
        var poller = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: sigchld, events: Int16(POLLIN), revents: 0)]
        while true {
            if poll(&poller, 2, -1) < 0 {
                if errno == EINTR { continue }
                return 1
            }
            if poller[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 1024)
                while (drain.withUnsafeMutableBytes { Glibc.read(sigchld, $0.baseAddress, $0.count) }) > 0 {}
                var status: Int32 = 0
                var usage = rusage()
                while true {
                    let pid = ppsys_reap_any(&status, &usage)
                    guard pid > 0 else { break }
                    var out = [Int32](repeating: 0, count: recordSize / 4)
                    out[0] = Kind.exit.rawValue
                    out[1] = pid
                    out[2] = status
                    out.withUnsafeMutableBytes { $0.storeBytes(of: usage, toByteOffset: headerSize, as: rusage.self) }
                    send(out)
                }
            }
            guard poller[0].revents != 0 else { continue }
            var fds: [Int32] = [-1, -1, -1]
            let n = record.withUnsafeMutableBytes { ppsys_recv_with_fds(socket, $0.baseAddress, UInt(recordSize), &fds, 3) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            // The client is gone (or the socket broke): the children live on without us.
            guard n > 0 else { return n == 0 ? 0 : 1 }
            guard n >= headerSize, record[0] == Kind.fork.rawValue, fds.allSatisfy({ $0 >= 0 }) else {
                for fd in fds where fd >= 0 { Glibc.close(fd) }
                send([Kind.fork.rawValue, record[1], -1, EINVAL])
                continue
            }
            let pid = ppsys_fork()
            if pid == 0 {
                Glibc.close(socket)
                Glibc.close(sigchld)
                ppsys_unblock_all_signals()
                _ = setsid()
                let args = CStringArray(childArguments)
                _ = ppsys_set_arguments(
                    UnsafeRawPointer(args.pointers).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                    Int32(childArguments.count))
                args.free()
                for (i, fd) in fds.enumerated() { _ = dup2(fd, Int32(i)) }
                for fd in fds where fd > 2 { Glibc.close(fd) }
                return nil
            }
            let error = pid < 0 ? errno : 0
            for fd in fds { Glibc.close(fd) }
            let pidfd = pid > 0 ? ppsys_pidfd_open(pid) : -1
            send([Kind.fork.rawValue, record[1], pid, error], fd: pidfd)
            if pidfd >= 0 { Glibc.close(pidfd) }
        }
    }
}

/// Runs `body` on a new detached thread (a small stack: it only waits and copies).
private func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setstacksize(&attr, 256 << 10)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&thread, &attr, { p in
        let b = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
        b.body()
        return nil
    }, box)
    if rc != 0 { Unmanaged<Box>.fromOpaque(box).release() }
}
