import CPPSys
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child that speaks the wire protocol on its stdin/stdout (`ppdash engine --stdio`, or ssh running one).
///
/// It starts in its own session, so the terminal's signals (Ctrl-C) reach only the scheduler, which stops it by
/// closing its input. One thread per child reads its stderr (the tail is kept for the death reason) and reaps it.
final class WorkerProcess: Sendable {
    let pid: pid_t
    /// What the death reason calls it: "" for a worker process, "ssh " for ssh.
    let label: String
    /// The parent's ends: write to the child's stdin, read its stdout. The link takes them over.
    let input: Int32
    let output: Int32
    private let state = Mutex(State())

    private struct State {
        var status: Int32?
        var stderrTail: [UInt8] = []
        var waiters: [@Sendable (Int32) -> Void] = []
    }

    private init(pid: pid_t, label: String, input: Int32, output: Int32) {
        self.pid = pid
        self.label = label
        self.input = input
        self.output = output
    }

    /// Starts `path` (looked up in PATH if it has no slash) with `argv` and pipes for stdin, stdout and stderr.
    static func spawn(path: String, argv: [String], label: String) throws(PPError) -> WorkerProcess {
        var inPipe: (Int32, Int32) = (-1, -1)
        var outPipe: (Int32, Int32) = (-1, -1)
        var errPipe: (Int32, Int32) = (-1, -1)
        guard ShellRunner.makePipe(&inPipe), ShellRunner.makePipe(&outPipe), ShellRunner.makePipe(&errPipe) else {
            let e = errno
            ShellRunner.closeAll(inPipe.0, inPipe.1, outPipe.0, outPipe.1, errPipe.0, errPipe.1)
            throw PPError(.noEngine, "cannot start \(path): pipe: \(ShellRunner.errorText(e))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe.0, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe.1, 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe.1, 2)
        ppsys_spawn_addclosefrom(&actions, 3)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var set = sigset_t()
        ppsys_sigset_empty(&set)
        posix_spawnattr_setsigmask(&attr, &set)
        ppsys_sigset_fill(&set)
        posix_spawnattr_setsigdefault(&attr, &set)
        posix_spawnattr_setflags(
            &attr,
            Int16(Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(ppsys_spawn_setsid_flag())))

        let args = CStringArray(argv)
        defer { args.free() }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, path, &actions, &attr, args.pointers, ppsys_environ())
        close(inPipe.0)
        close(outPipe.1)
        close(errPipe.1)
        guard rc == 0 else {
            ShellRunner.closeAll(inPipe.1, outPipe.0, errPipe.0)
            throw PPError(.noEngine, "cannot start \(path): \(ShellRunner.errorText(rc))")
        }
        let p = WorkerProcess(pid: pid, label: label, input: inPipe.1, output: outPipe.0)
        let errFd = errPipe.0
        let thread = Thread { p.watch(stderr: errFd) }
        thread.name = "ppdash-worker-\(pid)"
        thread.stackSize = 256 << 10
        thread.start()
        return p
    }

    /// Reads stderr (keeping the last 4 KiB) until EOF and the child's exit, then reaps it.
    private func watch(stderr fd: Int32) {
        ppsys_block_all_signals_in_thread()
        let pidfd = ppsys_pidfd_open(pid)
        var buf = [UInt8](repeating: 0, count: 4096)
        var errOpen = true
        var exited = false
        var exitedAt: Int64 = 0
        while errOpen {
            var fds = (
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: exited ? -1 : pidfd, events: Int16(POLLIN), revents: 0)
            )
            let wait: Int32 = pidfd < 0 ? 100 : (exited ? 200 : -1)
            _ = withUnsafeMutableBytes(of: &fds) { poll($0.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, wait) }
            if fds.0.revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    state.withLock { s in
                        s.stderrTail.append(contentsOf: buf[0..<n])
                        if s.stderrTail.count > 4096 { s.stderrTail.removeFirst(s.stderrTail.count - 4096) }
                    }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    errOpen = false
                }
            }
            if !exited && (fds.1.revents != 0 || (pidfd < 0 && ppsys_child_exited_nowait(pid) == 1)) {
                exited = true
                exitedAt = ppsys_monotonic_ns()
            }
            // A grandchild may hold stderr open: stop listening a second after the child's end.
            if exited && ppsys_monotonic_ns() - exitedAt > 1_000_000_000 { break }
        }
        close(fd)
        if pidfd >= 0 { close(pidfd) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let waiters = state.withLock { s -> [@Sendable (Int32) -> Void] in
            s.status = status
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w(status) }
    }

    /// Calls `body` with the wait status once the child is reaped (at once if it already is), on some thread.
    func onExit(_ body: @escaping @Sendable (Int32) -> Void) {
        let done = state.withLock { s -> Int32? in
            if let st = s.status { return st }
            s.waiters.append(body)
            return nil
        }
        if let done { body(done) }
    }

    /// The wait status, if reaped.
    var status: Int32? { state.withLock { $0.status } }

    func signal(_ sig: Int32) {
        if state.withLock({ $0.status == nil }) { kill(pid, sig) }
    }

    /// How it ended, in words: "killed by signal 9", "ssh exited 255: Permission denied (publickey).".
    var exitDescription: String? {
        guard let st = status else { return nil }
        var text: String
        if ppsys_wifsignaled(st) != 0 {
            text = "\(label)killed by signal \(ppsys_wtermsig(st))"
        } else {
            let code = ppsys_wexitstatus(st)
            text = label.isEmpty ? "exited with status \(code)" : "\(label)exited \(code)"
        }
        if let line = lastErrorLine { text += ": " + line }
        return text
    }

    /// The last non-empty line the child wrote to stderr.
    var lastErrorLine: String? {
        let tail = state.withLock { $0.stderrTail }
        let text = String(decoding: tail, as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).last.map {
            String($0.trimmingCharacters(in: .whitespaces).prefix(300))
        }
    }
}
