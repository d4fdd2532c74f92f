// Runs a child on a fresh pseudo-terminal and records every byte it writes there, escape sequences
// included (tmux's capture shows only the result; this shows what was sent).
import CPPSys
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `argv` with a new pty as its controlling terminal and stdin/stdout/stderr, `cols` x `rows`;
/// nothing is typed. After `timeout` its session gets SIGTERM, then SIGKILL.
/// `RunResult.stdout` holds everything written to the terminal; `stderr` is empty.
func runOnPty(
    _ argv: [String], env: [String: String?] = [:], cols: Int = 100, rows: Int = 30, timeout: Double = 10
) async -> RunResult {
    await withCheckedContinuation { (c: CheckedContinuation<RunResult, Never>) in
        Thread.detachNewThread {
            c.resume(returning: runOnPtyBlocking(argv, env: env, cols: cols, rows: rows, timeout: timeout))
        }
    }
}

private func runOnPtyBlocking(_ argv: [String], env: [String: String?], cols: Int, rows: Int, timeout: Double) -> RunResult {
    func failure(_ what: String) -> RunResult { RunResult(spawnError: "\(what): \(String(cString: strerror(errno)))") }
    var master: Int32 = -1, slaveFD: Int32 = -1
    guard openpty(&master, &slaveFD, nil, nil, nil) == 0 else { return failure("openpty") }
    defer { close(master) }
    // openpty's descriptors are inheritable; other threads' children must not keep them.
    _ = fcntl(master, F_SETFD, FD_CLOEXEC)
    _ = fcntl(slaveFD, F_SETFD, FD_CLOEXEC)
    var nameBuf = [CChar](repeating: 0, count: 128)
    guard ppsys_ptsname(master, &nameBuf, nameBuf.count) == 0 else { close(slaveFD); return failure("ptsname") }
    let slave = String(decoding: nameBuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var ws = winsize(ws_row: UInt16(rows), ws_col: UInt16(cols), ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(master, UInt(TIOCSWINSZ), &ws)

    // The child is a session leader (SETSID, set before the file actions run), so opening the
    // slave makes it the child's controlling terminal.
    var fa = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&fa)
    defer { posix_spawn_file_actions_destroy(&fa) }
    posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0)
    posix_spawn_file_actions_adddup2(&fa, 0, 1)
    posix_spawn_file_actions_adddup2(&fa, 0, 2)
    var attr = posix_spawnattr_t()
    configureSpawnAttributes(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    let cArgv = cStrings(argv)
    let cEnv = cStrings(childEnvironment(env).map { "\($0.key)=\($0.value)" })
    defer { freeCStrings(cArgv); freeCStrings(cEnv) }
    var pid: pid_t = -1
    let rc = posix_spawnp(&pid, cArgv[0]!, &fa, &attr, cArgv, cEnv)
    // Only the child holds the slave now, so reads see EIO once it (and its children) are gone.
    close(slaveFD)
    guard rc == 0 else { return RunResult(spawnError: "posix_spawnp \(argv[0]): \(String(cString: strerror(rc)))") }

    var r = RunResult()
    let start = now()
    var reapedAt: Double?
    var termSentAt: Double?
    var killSent = false
    var buffer = [UInt8](repeating: 0, count: 65536)
    var open = true
    while true {
        let t = now()
        if reapedAt == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                reapedAt = t
                if ppsys_wifexited(status) != 0 { r.exitCode = ppsys_wexitstatus(status) }
                if ppsys_wifsignaled(status) != 0 { r.signal = ppsys_wtermsig(status) }
            }
        }
        if let reapedAt, !open || t - reapedAt > 0.5 { break }
        if reapedAt == nil, t > start + timeout {
            if termSentAt == nil {
                r.timedOut = true
                termSentAt = t
                kill(-pid, SIGTERM)
            } else if !killSent, let s = termSentAt, t - s > 1 {
                killSent = true
                kill(-pid, SIGKILL)
            }
        }
        guard open else { usleep(5000); continue }
        var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 20) > 0 {
            let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if n > 0 {
                r.stdout += buffer[0..<n]
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                // EIO: every slave descriptor is closed.
                open = false
            }
        }
    }
    r.elapsed = (reapedAt ?? now()) - start
    return r
}
