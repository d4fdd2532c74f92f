// A child process known by its pidfd: signalled with pidfd_send_signal (a reused pid is never hit), its group
// signalled only while it is unreaped (so the group id cannot have been reused), reaped once.
import CPPSys
import Glibc
import Synchronization

/// How a child ended.
public enum ExitStatus: Sendable, Hashable {
    case exited(Int32)
    case signalled(Int32)

    /// From a wait(2) status word (WIFSIGNALED, WTERMSIG, WEXITSTATUS).
    public init(waitStatus s: Int32) {
        let sig = s & 0x7f
        self = sig != 0 && sig != 0x7f ? .signalled(sig) : .exited((s >> 8) & 0xff)
    }

    public var exitCode: Int32? { if case .exited(let c) = self { c } else { nil } }
    public var signal: Int32? { if case .signalled(let s) = self { s } else { nil } }
}

/// A started child, until and after it is reaped.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    /// Whether it leads its own process group (spawned with `.newGroup` or `.newSession`).
    public let leadsGroup: Bool
    /// Readable once the child exits; -1 where the kernel has no pidfd_open (then waitid WNOWAIT is polled).
    private let pidfd: OwnedDescriptor
    /// Set once reaped, under this lock: no signal is sent after that.
    private let reaped = Mutex<ExitStatus?>(nil)

    /// Who reaps it when it is not our child (a fork server's): nil for our own.
    private let reporter: (any ExitReporter)?

    init(pid: pid_t, leadsGroup: Bool) {
        self.pid = pid
        self.leadsGroup = leadsGroup
        pidfd = OwnedDescriptor(taking: ppsys_pidfd_open(pid))
        reporter = nil
    }

    /// A child of another process (a fork server), known by a pidfd that process opened before it could reap it;
    /// `reporter` tells its exit status.
    init(pid: pid_t, pidfd: consuming OwnedDescriptor, leadsGroup: Bool, reporter: any ExitReporter) {
        self.pid = pid
        self.leadsGroup = leadsGroup
        self.pidfd = pidfd
        self.reporter = reporter
    }

    /// Sends `sig` to the child (by its pidfd); false once it is reaped (nothing is sent then).
    @discardableResult public func send(signal sig: Int32) -> Bool {
        reaped.withLock { r in
            r == nil && (pidfd.raw >= 0 ? ppsys_pidfd_send_signal(pidfd.raw, sig) : kill(pid, sig)) == 0
        }
    }

    /// Sends `sig` to the child's process group (it and what it started); false once reaped or if it leads none.
    @discardableResult public func sendToGroup(signal sig: Int32) -> Bool {
        reaped.withLock { r in r == nil && leadsGroup && kill(-pid, sig) == 0 }
    }

    /// Signals what the child leads: its group when it has one, else the child alone.
    private func stop(signal sig: Int32) {
        if leadsGroup { sendToGroup(signal: sig) } else { send(signal: sig) }
    }

    /// Whether it has exited (reaped or not); never blocks.
    public var hasExited: Bool {
        status != nil
            || (pidfd.raw >= 0 ? waitReadable(pidfd.raw, milliseconds: 0) : ppsys_child_exited_nowait(pid) == 1)
    }

    /// What the child used, as wait4 reported it when it was reaped (its own and its reaped children's CPU, its
    /// peak resident memory); nil until then.
    public var usage: ResourceUsage? { usageOnce.withLock { $0 } }
    /// Set once, when reaped.
    private let usageOnce = Mutex<ResourceUsage?>(nil)

    /// The exit status, if reaped.
    public var status: ExitStatus? { reaped.withLock { $0 } }

    /// Waits for the exit and reaps; later calls give the same status. Nil only if the child was reaped elsewhere.
    @discardableResult public func wait() -> ExitStatus? {
        if let done = status { return done }
        if let reporter {
            // Not ours to reap: its pidfd says when it ended, its reaper how.
            if pidfd.raw >= 0 { _ = waitReadable(pidfd.raw, milliseconds: -1) }
            let ended = reporter.awaitExit(of: pid)
            return reaped.withLock { r in
                if r == nil, let ended {
                    r = ExitStatus(waitStatus: ended.status)
                    usageOnce.withLock { $0 = ResourceUsage(ended.usage) }
                }
                return r
            }
        }
        // Block outside the lock (so `send` is never held up), reap under it once the child is gone.
        if pidfd.raw >= 0 { _ = waitReadable(pidfd.raw, milliseconds: -1) }
        return reaped.withLock { r in
            var st: Int32 = 0
            var ru = rusage()
            if r == nil, (try? retryingInterrupts({ wait4(pid, &st, 0, &ru) })) == pid {
                r = ExitStatus(waitStatus: st)
                // The spawner's own peak hides a smaller task's (see ResourceUsage.init(_:spawnerPeak:)).
                usageOnce.withLock { $0 = ResourceUsage(ru, spawnerPeak: ResourceUsage.selfPeakRSS() ?? Int64.max) }
            }
            return r
        }
    }
}

/// Signals process group `pgid` (a task's group named by a journal or a worker); false if none is there.
@discardableResult public func signalProcessGroup(_ pgid: Int32, _ sig: Int32) -> Bool {
    pgid > 1 && kill(-pgid, sig) == 0
}

/// Why `watch` stopped the child.
public enum StopReason: Sendable, Hashable {
    /// The wake descriptor became readable or `stopRequested` said so.
    case requested
    /// The deadline passed.
    case deadline
}

extension ChildProcess {
    /// Reads the child's pipes until it exits, stopping it on request or at a deadline, and returns when it may be
    /// reaped (the caller then calls `wait()`).
    ///
    /// - Output: each read goes to `onRead(index in pipes, bytes)`. Once the child has exited (or been SIGKILLed),
    ///   what the pipes already hold is read and then no more (an orphan holding a pipe open does not hold us up),
    ///   at most `Timings.drainAfterExit` bytes per pipe.
    /// - Stopping: SIGTERM to the group, then, once the child is gone and its pipes are closed or `grace`
    ///   nanoseconds passed, SIGKILL to the group, still before reaping (so the group id cannot be someone else's).
    /// - `wake`: a descriptor (an eventfd) whose readability asks for a stop, -1 for none; `stopRequested` is also
    ///   asked every round (every 10 ms when there is no wake descriptor but a stop can be requested).
    public func watch(
        pipes: [Int32], wake: Int32 = -1, deadline: Int64? = nil, grace: Int64, canBeStopped: Bool = false,
        stopRequested: () -> Bool = { false }, now: () -> Int64, onRead: (Int, UnsafeRawBufferPointer) -> Void
    ) -> StopReason? {
        let (n, readSize) = (pipes.count, 65536)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readSize, alignment: 16)
        defer { buffer.deallocate() }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { drained in
            withUnsafeTemporaryAllocation(of: pollfd.self, capacity: n + 2) { fds in
                for i in 0..<n {
                    fds[i] = pollfd(fd: pipes[i], events: Int16(POLLIN), revents: 0)
                    drained[i] = 0
                }
                fds[n] = pollfd(fd: pidfd.raw, events: Int16(POLLIN), revents: 0)
                fds[n + 1] = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
                var stopped: StopReason?
                var killAt: Int64?
                var (exited, killSent, draining) = (false, false, false)
                while true {
                    // Draining: only what is there now. Else until the deadline or the SIGKILL is due.
                    var timeout: Int32 = -1
                    if draining {
                        timeout = 0
                    } else if let due = killAt ?? deadline {
                        timeout = Int32(clamping: (max(due - now(), 0) + 999_999) / 1_000_000)
                    }
                    if pidfd.raw < 0 || (canBeStopped && wake < 0) { timeout = timeout < 0 ? 10 : min(timeout, 10) }
                    if poll(fds.baseAddress, nfds_t(n + 2), timeout) < 0 && errno == EINTR { continue }
                    let t = now()
                    var gotData = false
                    for i in 0..<n where fds[i].fd >= 0 && fds[i].revents != 0 {
                        // One read: EINTR/EAGAIN count as data (poll again); EOF or an error drop the pipe.
                        let r = Glibc.read(fds[i].fd, buffer.baseAddress, readSize)
                        if r > 0 { onRead(i, UnsafeRawBufferPointer(rebasing: buffer[0..<r])) }
                        if r <= 0 && !(r < 0 && (errno == EINTR || errno == EAGAIN)) {
                            fds[i].fd = -1
                        } else {
                            gotData = true
                            if draining { drained[i] += max(r, 1) }
                        }
                    }
                    if !exited {
                        exited = pidfd.raw >= 0 ? fds[n].revents != 0 : ppsys_child_exited_nowait(pid) == 1
                        if exited { fds[n].fd = -1 }
                    }
                    if !exited && killAt == nil {
                        if canBeStopped && (fds[n + 1].revents != 0 || stopRequested()) {
                            stopped = .requested
                        } else if let deadline, t >= deadline {
                            stopped = .deadline
                        }
                        if stopped != nil {
                            stop(signal: SIGTERM)
                            killAt = t + grace
                        }
                    }
                    if fds[n + 1].revents != 0 { fds[n + 1].fd = -1 }
                    let allClosed = (0..<n).allSatisfy { fds[$0].fd < 0 }
                    if let k = killAt, !killSent, t >= k || (exited && allClosed) {
                        stop(signal: SIGKILL)
                        killSent = true
                    }
                    let wasDraining = draining
                    draining = killSent || (exited && killAt == nil)
                    if draining
                        && (allClosed || (wasDraining && !gotData)
                            || (0..<n).contains(where: { drained[$0] >= Timings.drainAfterExit }))
                    {
                        return stopped
                    }
                }
            }
        }
    }
}
