// Runs a child on a fresh pseudo-terminal and records every byte it writes there, escape sequences
// included (tmux's capture shows only the result; this shows what was sent).
import Foundation
import Glibc
import PPSystem

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
    func failure(_ what: String, _ e: Errno) -> RunResult { RunResult(spawnError: "\(what): \(SystemFacts.errorText(e.rawValue))") }
    let pty: PseudoTerminal
    do throws(Errno) { pty = try PseudoTerminal(rows: rows, cols: cols) } catch { return failure("openpty", error) }
    // The child is a session leader (SETSID, set before the file actions run), so opening the
    // slave makes it the child's controlling terminal; reads see EIO once it (and its children) are gone.
    let pid: pid_t
    do throws(Errno) { pid = try spawnSession(argv, env: env, descriptors: pty.childDescriptors).pid } catch {
        return failure("posix_spawnp \(argv[0])", error)
    }

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
                (r.exitCode, r.signal) = (ExitStatus(waitStatus: status).exitCode, ExitStatus(waitStatus: status).signal)
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
        let master = pty.master.raw  // read each round: `pty` (and so the master) lives until the loop ends
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
