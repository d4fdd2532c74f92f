import CPPSys
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Limits for one shell task.
public struct ShellLimits: Sendable, Hashable {
    /// Seconds before the task is stopped; nil = none.
    public var runTimeLimit: Double?
    /// Seconds between SIGTERM and SIGKILL.
    public var grace: Double
    /// Bytes kept per stream (head half + tail half); the rest is counted in `droppedBytes`.
    public var maxOutput: Int

    public init(runTimeLimit: Double? = nil, grace: Double = 2, maxOutput: Int = 65536) {
        self.runTimeLimit = runTimeLimit
        self.grace = grace
        self.maxOutput = maxOutput
    }
}

/// Wakes a running `ShellRunner.run` from another thread to stop its task; once fired it stays fired.
public final class ShellCancel: Sendable {
    /// eventfd the runner polls (-1 if none could be made: then only `fired` is seen, between polls).
    let fd: Int32
    let fired = Atomic<Bool>(false)

    public init() { fd = ppsys_eventfd() }
    deinit { if fd >= 0 { close(fd) } }

    public func fire() {
        guard !fired.exchange(true, ordering: .acquiringAndReleasing), fd >= 0 else { return }
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// True once `fire()` was called.
    public var isFired: Bool { fired.load(ordering: .acquiring) }
}

/// What one shell task did.
public struct ShellOutcome: Sendable, Hashable {
    /// The exit status, when it exited.
    public var exitStatus: Int32?
    /// The signal, when killed by one.
    public var signal: Int32?
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    /// The run-time limit was hit.
    public var timedOut: Bool
    /// `ShellCancel` fired.
    public var cancelled: Bool
    /// Why it could not start, e.g. "cannot run: /bin/sh: Resource temporarily unavailable".
    public var spawnError: String?
    /// The process id, also its process group id; 0 if never started.
    public var pid: Int32
    public var started: Timestamp
    public var completed: Timestamp

    public init(
        exitStatus: Int32? = nil, signal: Int32? = nil, stdout: CapturedOutput = .empty,
        stderr: CapturedOutput = .empty,
        timedOut: Bool = false, cancelled: Bool = false, spawnError: String? = nil, pid: Int32 = 0,
        started: Timestamp, completed: Timestamp
    ) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.spawnError = spawnError
        self.pid = pid
        self.started = started
        self.completed = completed
    }

    /// Exit 0, no signal, not timed out or cancelled, no spawn error.
    public var succeeded: Bool {
        exitStatus == 0 && signal == nil && !timedOut && !cancelled && spawnError == nil
    }
}

/// Runs shell tasks with raw posix_spawn and one poll(2) loop on the calling thread.
public enum ShellRunner {
    static let readSize = 65536
    /// Bytes per stream still read after the leader exited (an orphan may keep writing).
    static let drainAfterExit = 1 << 20

    /// Runs `command` to completion on the calling thread (own process group, stdin /dev/null, bounded capture).
    public static func run(
        _ command: String, workingDirectory: String? = nil, environment extra: [String: String] = [:],
        limits: ShellLimits = ShellLimits(), cancel: ShellCancel? = nil, clock: any PPClock = SystemClock(),
        onSpawn: (Int32) -> Void = { _ in }
    ) -> ShellOutcome {
        let started = clock.now()
        if let cancel, cancel.isFired {
            return ShellOutcome(cancelled: true, started: started, completed: started)
        }
        var plan = CommandPlan.plan(command, path: extra["PATH"] ?? getenv("PATH").map { String(cString: $0) })
        if workingDirectory != nil, case .argv(let p, _) = plan, p.utf8.first != UInt8(ascii: "/") {
            plan = .shell(command)
        }

        var outPipe: (Int32, Int32) = (-1, -1)
        var errPipe: (Int32, Int32) = (-1, -1)
        guard makePipe(&outPipe), makePipe(&errPipe) else {
            let e = errno
            closeAll(outPipe.0, outPipe.1, errPipe.0, errPipe.1)
            return ShellOutcome(
                spawnError: "cannot run: pipe: " + errorText(e), started: started, completed: clock.now())
        }

        let env = EnvironmentBlock(extra)
        defer { env.free() }
        var pid: pid_t = 0
        var rc = spawn(
            plan, command: command, outFd: outPipe.1, errFd: errPipe.1, dir: workingDirectory, env: env, pid: &pid)
        if rc != 0, case .argv(let p, let args) = plan, rc == ENOENT || rc == ENOEXEC || rc == EACCES,
            workingDirectory.map({ access($0, X_OK) == 0 }) ?? true
        {
            // Stale cache or a script without `#!`: let the shell find and run it as it would.
            PathCache.forget(args[0])
            PathCache.forget(p)
            rc = spawn(
                .shell(command), command: command, outFd: outPipe.1, errFd: errPipe.1, dir: workingDirectory, env: env,
                pid: &pid)
        }
        close(outPipe.1)
        close(errPipe.1)
        if rc != 0 {
            close(outPipe.0)
            close(errPipe.0)
            var what = "/bin/sh"
            if case .argv(let p, _) = plan { what = p }
            if let dir = workingDirectory, access(dir, X_OK) != 0 { return failed("cd " + dir, errno, started, clock) }
            return failed(what, rc, started, clock)
        }
        onSpawn(pid)

        var outcome = ShellOutcome(pid: pid, started: started, completed: started)
        let status = supervise(
            pid: pid, outFd: outPipe.0, errFd: errPipe.0, limits: limits, cancel: cancel, clock: clock, into: &outcome)
        if let status {
            if ppsys_wifexited(status) != 0 {
                outcome.exitStatus = ppsys_wexitstatus(status)
            } else if ppsys_wifsignaled(status) != 0 {
                outcome.signal = ppsys_wtermsig(status)
            }
        }
        outcome.completed = clock.now()
        return outcome
    }

    static func failed(_ what: String, _ code: Int32, _ started: Timestamp, _ clock: any PPClock) -> ShellOutcome {
        ShellOutcome(
            spawnError: "cannot run: " + what + ": " + errorText(code), started: started, completed: clock.now())
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func closeAll(_ fds: Int32...) { for fd in fds where fd >= 0 { close(fd) } }

    /// A close-on-exec pipe whose descriptors are both above stdio (so the child's dup2s cannot clobber them).
    static func makePipe(_ p: inout (Int32, Int32)) -> Bool {
        var fds: (Int32, Int32) = (-1, -1)
        let ok = withUnsafeMutableBytes(of: &fds) { raw in
            ppsys_pipe_cloexec(raw.baseAddress!.assumingMemoryBound(to: Int32.self), 0) == 0
        }
        guard ok else { return false }
        if fds.0 < 3 { fds.0 = raiseFd(fds.0) }
        if fds.1 < 3 { fds.1 = raiseFd(fds.1) }
        p = fds
        return fds.0 >= 0 && fds.1 >= 0
    }

    static func raiseFd(_ fd: Int32) -> Int32 {
        let n = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        close(fd)
        return n
    }

    /// posix_spawn with its own process group, empty signal mask, default handlers, stdin /dev/null; 0 or an errno.
    static func spawn(
        _ plan: CommandPlan, command: String, outFd: Int32, errFd: Int32, dir: String?, env: EnvironmentBlock,
        pid: inout pid_t
    ) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var rc = posix_spawn_file_actions_adddup2(&actions, outFd, 1)
        if rc == 0 { rc = posix_spawn_file_actions_adddup2(&actions, errFd, 2) }
        if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        if rc == 0 { rc = ppsys_spawn_addclosefrom(&actions, 3) }
        if rc == 0, let dir { rc = ppsys_spawn_addchdir(&actions, dir) }
        guard rc == 0 else { return rc }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var set = sigset_t()
        ppsys_sigset_empty(&set)
        posix_spawnattr_setsigmask(&attr, &set)
        ppsys_sigset_fill(&set)
        posix_spawnattr_setsigdefault(&attr, &set)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let path: String
        let args: CStringArray
        switch plan {
        case .argv(let p, let a):
            path = p
            args = CStringArray(a)
        case .shell(let c):
            path = "/bin/sh"
            args = CStringArray(["sh", "-c", c])
        }
        defer { args.free() }
        return posix_spawn(&pid, path, &actions, &attr, args.pointers, env.pointers)
    }

    /// The poll loop: captures both pipes, enforces deadline and cancel, reaps; returns the wait status or nil.
    static func supervise(
        pid: pid_t, outFd: Int32, errFd: Int32, limits: ShellLimits, cancel: ShellCancel?, clock: any PPClock,
        into outcome: inout ShellOutcome
    ) -> Int32? {
        let pidfd = ppsys_pidfd_open(pid)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: readSize, alignment: 16)
        defer {
            buffer.deallocate()
            if pidfd >= 0 { close(pidfd) }
        }
        var out = OutputCapture(limit: limits.maxOutput)
        var err = OutputCapture(limit: limits.maxOutput)
        var fds = (
            pollfd(fd: outFd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: errFd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: cancel?.fd ?? -1, events: Int16(POLLIN), revents: 0)
        )
        let startNs = clock.monotonicNanoseconds()
        let deadline: Int64? = limits.runTimeLimit.flatMap { nanoseconds($0).map { startNs + $0 } }
        let graceNs = nanoseconds(limits.grace) ?? 0
        var killAt: Int64? = nil
        var killSent = false
        var exited = false
        var drained = (0, 0)

        func stop(_ now: Int64) {
            kill(-pid, SIGTERM)
            killAt = now + graceNs
        }

        while true {
            let wasExited = exited
            var timeout: Int32 = -1
            if exited && killAt == nil {
                timeout = 0
            } else {
                let now = clock.monotonicNanoseconds()
                var wake: Int64? = killAt == nil ? deadline : (killSent ? nil : killAt)
                if let w = wake, w < now { wake = now }
                if let w = wake { timeout = Int32(clamping: (w - now + 999_999) / 1_000_000) }
                if pidfd < 0 || (cancel != nil && cancel!.fd < 0) { timeout = timeout < 0 ? 10 : min(timeout, 10) }
            }
            let n = withUnsafeMutableBytes(of: &fds) { raw in
                poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 4, timeout)
            }
            if n < 0 && errno == EINTR { continue }
            let now = clock.monotonicNanoseconds()
            var gotData = false
            if fds.0.fd >= 0 && fds.0.revents != 0 {
                let r = readInto(&out, fd: fds.0.fd, buffer: buffer)
                if r <= 0 {
                    close(fds.0.fd)
                    fds.0.fd = -1
                } else {
                    gotData = true
                    if exited { drained.0 += r }
                }
            }
            if fds.1.fd >= 0 && fds.1.revents != 0 {
                let r = readInto(&err, fd: fds.1.fd, buffer: buffer)
                if r <= 0 {
                    close(fds.1.fd)
                    fds.1.fd = -1
                } else {
                    gotData = true
                    if exited { drained.1 += r }
                }
            }
            if !exited {
                if pidfd >= 0 {
                    if fds.2.revents != 0 { exited = true }
                } else if ppsys_child_exited_nowait(pid) == 1 {
                    exited = true
                }
                if exited { fds.2.fd = -1 }
            }
            if !exited && killAt == nil {
                if let cancel, fds.3.revents != 0 || cancel.isFired {
                    outcome.cancelled = true
                    stop(now)
                } else if let deadline, now >= deadline {
                    outcome.timedOut = true
                    stop(now)
                }
            }
            if fds.3.revents != 0 { fds.3.fd = -1 }
            if let k = killAt, !killSent {
                // Stopping: once the leader is gone, wait for pipe EOF (the rest of the group) or the grace,
                // then SIGKILL the group before reaping, so the pgid cannot have been reused.
                if now >= k || (exited && fds.0.fd < 0 && fds.1.fd < 0) {
                    kill(-pid, SIGKILL)
                    killSent = true
                }
            }
            if exited {
                if killAt != nil {
                    if killSent { break }
                } else if (fds.0.fd < 0 && fds.1.fd < 0) || (wasExited && !gotData) || drained.0 >= drainAfterExit
                    || drained.1 >= drainAfterExit
                {
                    break
                }
            }
        }
        if fds.0.fd >= 0 { drainAvailable(&out, fd: fds.0.fd, buffer: buffer) }
        if fds.1.fd >= 0 { drainAvailable(&err, fd: fds.1.fd, buffer: buffer) }
        closeAll(fds.0.fd, fds.1.fd)
        outcome.stdout = out.captured()
        outcome.stderr = err.captured()

        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { return status }
            if r < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Reads what a pipe holds right now without blocking (after SIGKILL), bounded like the post-exit drain.
    static func drainAvailable(_ capture: inout OutputCapture, fd: Int32, buffer: UnsafeMutableRawPointer) {
        var total = 0
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while total < drainAfterExit, poll(&p, 1, 0) == 1 {
            let r = readInto(&capture, fd: fd, buffer: buffer)
            if r <= 0 { return }
            total += r
        }
    }

    /// One read(2) into the capture: the byte count, 0 at EOF, -1 on error (1 on EINTR/EAGAIN to keep polling).
    @inline(__always) static func readInto(_ capture: inout OutputCapture, fd: Int32, buffer: UnsafeMutableRawPointer)
        -> Int
    {
        let r = read(fd, buffer, readSize)
        if r > 0 {
            capture.append(UnsafeRawBufferPointer(start: buffer, count: r))
            return r
        }
        if r < 0 && (errno == EINTR || errno == EAGAIN) { return 1 }
        return r == 0 ? 0 : -1
    }

    /// Seconds to nanoseconds, nil unless finite and non-negative (capped at ~30 years).
    static func nanoseconds(_ s: Double) -> Int64? {
        guard s.isFinite, s >= 0 else { return s.isFinite ? 0 : nil }
        return Int64(min(s, 1e9) * 1e9)
    }
}

/// One stream's bounded capture: the first half of `limit` bytes, a ring of the last half, and a count of the rest.
struct OutputCapture {
    let headLimit: Int
    let tailLimit: Int
    var head: [UInt8] = []
    var tail: [UInt8] = []
    var tailStart = 0
    var dropped = 0

    init(limit: Int) {
        let l = max(0, limit)
        headLimit = l / 2
        tailLimit = l - l / 2
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        var src = chunk[...]
        if head.count < headLimit {
            let k = min(headLimit - head.count, src.count)
            if head.count + k > head.capacity {
                head.reserveCapacity(min(headLimit, max(2 * head.capacity, head.count + k)))
            }
            head.append(contentsOf: src.prefix(k))
            src = src.dropFirst(k)
        }
        if src.isEmpty { return }
        if src.count >= tailLimit {
            dropped += tail.count + (src.count - tailLimit)
            tail.removeAll(keepingCapacity: true)
            if tail.capacity < tailLimit { tail.reserveCapacity(tailLimit) }
            tail.append(contentsOf: src.suffix(tailLimit))
            tailStart = 0
            return
        }
        if tail.count < tailLimit {
            let k = min(tailLimit - tail.count, src.count)
            if tail.count + k > tail.capacity {
                tail.reserveCapacity(min(tailLimit, max(2 * tail.capacity, tail.count + k)))
            }
            tail.append(contentsOf: src.prefix(k))
            src = src.dropFirst(k)
            if src.isEmpty { return }
        }
        // The ring is full: overwrite the oldest bytes.
        dropped += src.count
        tail.withUnsafeMutableBytes { ring in
            var rest = src
            while !rest.isEmpty {
                let k = min(tailLimit - tailStart, rest.count)
                ring.baseAddress!.advanced(by: tailStart).copyMemory(
                    from: rest.base.baseAddress!.advanced(by: rest.startIndex), byteCount: k)
                rest = rest.dropFirst(k)
                tailStart = (tailStart + k) % tailLimit
            }
        }
    }

    func captured() -> CapturedOutput {
        if head.isEmpty && tail.isEmpty { return CapturedOutput(text: "", droppedBytes: dropped) }
        let ordered = tailStart == 0 ? tail : Array(tail[tailStart...] + tail[..<tailStart])
        if dropped == 0 {
            // Nothing cut: decode as one piece so a character spanning head and tail stays whole.
            return CapturedOutput(text: String(decoding: head + ordered, as: UTF8.self), droppedBytes: 0)
        }
        return CapturedOutput(
            text: String(decoding: head, as: UTF8.self) + String(decoding: ordered, as: UTF8.self),
            droppedBytes: dropped)
    }
}

/// NUL-terminated strings packed in one allocation, with a nil-terminated pointer array for argv/envp.
struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let storage: UnsafeMutablePointer<CChar>?

    init(_ strings: [String]) {
        var bytes = 0
        for s in strings { bytes += s.utf8.count + 1 }
        pointers = .allocate(capacity: strings.count + 1)
        let store = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes, 1))
        storage = store
        var offset = 0
        for (i, s) in strings.enumerated() {
            let p = store + offset
            let n = s.utf8.count
            UnsafeMutableRawPointer(p).withMemoryRebound(to: UInt8.self, capacity: n + 1) { dst in
                _ = UnsafeMutableBufferPointer(start: dst, count: n).initialize(from: s.utf8)
                dst[n] = 0
            }
            pointers[i] = p
            offset += n + 1
        }
        pointers[strings.count] = nil
    }

    func free() {
        pointers.deallocate()
        storage?.deallocate()
    }
}

/// The child's environment: `environ` itself, or `environ` minus the overridden names plus `extra`.
struct EnvironmentBlock {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    let owned: CStringArray?
    let list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

    init(_ extra: [String: String]) {
        guard !extra.isEmpty else {
            pointers = ppsys_environ()
            owned = nil
            list = nil
            return
        }
        let added = CStringArray(extra.map { $0.key + "=" + $0.value })
        let keys = extra.keys.map { Array($0.utf8) }
        var kept: [UnsafeMutablePointer<CChar>] = []
        if var e = ppsys_environ() {
            while let entry = e.pointee {
                if !keys.contains(where: { EnvironmentBlock.matches(entry, $0) }) { kept.append(entry) }
                e += 1
            }
        }
        let all = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: kept.count + extra.count + 1)
        for (i, p) in kept.enumerated() { all[i] = p }
        for i in 0..<extra.count { all[kept.count + i] = added.pointers[i] }
        all[kept.count + extra.count] = nil
        pointers = all
        owned = added
        list = all
    }

    /// True if `entry` is `key=...`.
    private static func matches(_ entry: UnsafeMutablePointer<CChar>, _ key: [UInt8]) -> Bool {
        let e = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
        for (i, k) in key.enumerated() where e[i] != k { return false }
        return e[key.count] == UInt8(ascii: "=")
    }

    func free() {
        owned?.free()
        list?.deallocate()
    }
}
