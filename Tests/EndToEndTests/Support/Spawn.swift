// Runs child processes for the end-to-end tests: posix_spawn + waitpid, never Foundation.Process
// (it hangs on a daemonised tmux server that inherits its pipes; see shared/notes/ncurses.md).
import Foundation
import Glibc
import PPSystem
import Synchronization

/// What a finished child left behind.
struct RunResult: Sendable, CustomStringConvertible {
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    /// The exit status, or nil when a signal ended the child.
    var exitCode: Int32?
    /// The signal that ended the child, if one did.
    var signal: Int32?
    /// The test's deadline passed and the child's process group was killed.
    var timedOut = false
    /// Seconds from spawn to reaping.
    var elapsed: Double = 0
    /// Why the spawn itself failed (nothing ran), if it did.
    var spawnError: String?

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
    /// stdout split into lines, without the empty piece after a final newline.
    var outLines: [String] { splitLines(out) }
    var errLines: [String] { splitLines(err) }

    /// A short account for failure messages.
    var description: String {
        var s = spawnError.map { "spawn failed: \($0)" } ?? ""
        if s.isEmpty {
            s = exitCode.map { "exit \($0)" } ?? signal.map { "signal \($0)" } ?? "not reaped"
        }
        if timedOut { s += " (timed out, killed)" }
        s += String(format: " after %.2fs", elapsed)
        s += "\n--- stdout (\(stdout.count) bytes) ---\n" + clip(out)
        s += "\n--- stderr (\(stderr.count) bytes) ---\n" + clip(err)
        return s
    }
}

func splitLines(_ s: String) -> [String] {
    var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// The first and last parts of a long text, for messages.
func clip(_ s: String, _ limit: Int = 3000) -> String {
    guard s.count > limit else { return s }
    return String(s.prefix(limit / 2)) + "\n[... \(s.count - limit) characters ...]\n" + String(s.suffix(limit / 2))
}

/// Monotonic seconds.
func now() -> Double { SystemTime.monotonicSeconds() }

/// A state directory for this test process, removed by nobody: it lives under the system's temp directory.
let testStateHome: String = {
    let dir = NSTemporaryDirectory() + "ppdash-test-state-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

/// Starts `argv` (argv[0] looked up in PATH) in a session of its own (own process group, no controlling terminal),
/// with no signal blocked (Swift Testing's threads block most) and every signal at its default action; its
/// environment is ours with XDG_STATE_HOME set to `testStateHome` and `changes` applied (nil removes a variable).
func spawnSession(_ argv: [String], env changes: [String: String?], descriptors: [SpawnPlan.Descriptor])
    throws(Errno) -> ChildProcess
{
    var plan = SpawnPlan(executable: argv[0], arguments: argv, descriptors: descriptors, grouping: .newSession)
    plan.searchPath = true
    // Journals the tests' ppdash runs write go to a private place, never the user's ~/.local/state.
    plan.environment = ["XDG_STATE_HOME": testStateHome].merging(changes.compactMapValues { $0 }) { $1 }
    plan.removedVariables = changes.filter { $0.value == nil }.map(\.key)
    for k in plan.removedVariables { plan.environment[k] = nil }
    return try plan.spawn()
}

/// `argv` run in `directory`: a tiny `sh` prologue does the chdir (posix_spawn's addchdir is hidden by Glibc).
func inDirectory(_ directory: String?, _ argv: [String]) -> [String] {
    guard let directory else { return argv }
    return ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + argv
}

/// A child started in the background: its output is collected on a dedicated thread
/// (never the cooperative pool), and it can be signalled while it runs.
final class Child: Sendable {
    let pid: pid_t
    private struct State {
        var result: RunResult?
        var waiters: [CheckedContinuation<RunResult, Never>] = []
    }
    private let state = Mutex(State())

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `argv` (argv[0] looked up in PATH) with `env` changes, optional stdin bytes (else /dev/null),
    /// in `directory`; after `timeout` seconds its process group gets SIGTERM, then SIGKILL a second later.
    static func start(
        _ argv: [String], env: [String: String?] = [:], stdin: [UInt8]? = nil,
        directory: String? = nil, timeout: Double = 30
    ) -> Child {
        let argv = inDirectory(directory, argv)
        let pid: pid_t
        let fds: (out: Int32, err: Int32, input: Int32)
        do throws(Errno) {
            let outPipe = try OwnedDescriptor.pipe()
            let errPipe = try OwnedDescriptor.pipe()
            let inPipe = try OwnedDescriptor.pipe()
            let input: SpawnPlan.Descriptor =
                stdin != nil ? .copy(inPipe.read.raw, to: 0) : .open("/dev/null", flags: O_RDONLY, to: 0)
            pid = try spawnSession(
                argv, env: env, descriptors: [input, .copy(outPipe.write.raw, to: 1), .copy(errPipe.write.raw, to: 2)]
            ).pid
            let inW = inPipe.write.release()
            if stdin == nil { close(inW) }
            fds = (outPipe.read.release(), errPipe.read.release(), stdin != nil ? inW : -1)
        } catch {
            let c = Child(pid: -1)
            c.finish(RunResult(spawnError: "posix_spawnp \(argv[0]): \(SystemFacts.errorText(error.rawValue))"))
            return c
        }
        let child = Child(pid: pid)
        let childPID = pid
        let input = stdin ?? []
        Thread.detachNewThread {
            child.finish(pump(pid: childPID, out: fds.out, err: fds.err, input: fds.input, bytes: input, timeout: timeout))
        }
        return child
    }

    private func finish(_ r: RunResult) {
        let waiters = state.withLock { s in
            s.result = r
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: r) }
    }

    /// Sends `sig` to the child (its process group too when `group`).
    func signal(_ sig: Int32, group: Bool = false) {
        guard pid > 0, state.withLock({ $0.result == nil }) else { return }
        kill(group ? -pid : pid, sig)
    }

    /// The result, once the child has been reaped.
    var result: RunResult? { state.withLock { $0.result } }

    /// Waits for the child to end (its own deadline bounds this).
    func wait() async -> RunResult {
        await withCheckedContinuation { (c: CheckedContinuation<RunResult, Never>) in
            let done = state.withLock { s -> RunResult? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    /// Blocks the calling thread until the child ends; for `defer` blocks and other synchronous places.
    func waitBlocking() -> RunResult {
        while true {
            if let r = result { return r }
            usleep(2000)
        }
    }
}

/// Runs `argv` to its end and returns what it printed and how it ended.
func run(
    _ argv: [String], env: [String: String?] = [:], stdin: [UInt8]? = nil,
    directory: String? = nil, timeout: Double = 30
) async -> RunResult {
    await Child.start(argv, env: env, stdin: stdin, directory: directory, timeout: timeout).wait()
}

/// The same, blocking the calling thread (for `defer` blocks).
func runBlocking(_ argv: [String], env: [String: String?] = [:], timeout: Double = 10) -> RunResult {
    Child.start(argv, env: env, timeout: timeout).waitBlocking()
}

/// The child's I/O loop: feeds stdin, drains stdout/stderr, reaps, enforces the deadline.
private func pump(pid: pid_t, out: Int32, err: Int32, input: Int32, bytes: [UInt8], timeout: Double) -> RunResult {
    var r = RunResult()
    let start = now()
    let deadline = start + timeout
    var outFD = out, errFD = err, inFD = input
    var written = 0
    if inFD >= 0 {
        _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
        if bytes.isEmpty { close(inFD); inFD = -1 }
    }
    var reapedAt: Double?
    var termSentAt: Double?
    var killSent = false
    var buffer = [UInt8](repeating: 0, count: 65536)

    while true {
        let t = now()
        if reapedAt == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                reapedAt = t
                (r.exitCode, r.signal) = (ExitStatus(waitStatus: status).exitCode, ExitStatus(waitStatus: status).signal)
            }
        }
        // Done once both streams hit EOF and the child is reaped; a grandchild still holding
        // a pipe gets one second after the child's end, then we stop listening.
        if let reapedAt, (outFD < 0 && errFD < 0) || t - reapedAt > 1 { break }
        if reapedAt == nil, t > deadline {
            if termSentAt == nil {
                r.timedOut = true
                termSentAt = t
                kill(-pid, SIGTERM)
                kill(pid, SIGTERM)
            } else if !killSent, let s = termSentAt, t - s > 1 {
                killSent = true
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
            }
        }
        var pfds: [pollfd] = []
        if outFD >= 0 { pfds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
        if errFD >= 0 { pfds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
        if inFD >= 0 { pfds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
        if pfds.isEmpty {
            usleep(5000)
            continue
        }
        _ = poll(&pfds, nfds_t(pfds.count), 20)
        for p in pfds where p.revents != 0 {
            if p.fd == inFD {
                let n = bytes.withUnsafeBytes { b in write(inFD, b.baseAddress! + written, b.count - written) }
                if n > 0 { written += n }
                if n < 0 && errno != EAGAIN && errno != EINTR || written >= bytes.count {
                    close(inFD)
                    inFD = -1
                }
                continue
            }
            let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                if p.fd == outFD { r.stdout += buffer[0..<n] } else { r.stderr += buffer[0..<n] }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                close(p.fd)
                if p.fd == outFD { outFD = -1 } else { errFD = -1 }
            }
        }
    }
    for fd in [outFD, errFD, inFD] where fd >= 0 { close(fd) }
    r.elapsed = (reapedAt ?? now()) - start
    return r
}

/// Processes (pid, parent pid, session id, command line) read from /proc.
struct ProcInfo: Sendable {
    var pid: pid_t
    var ppid: pid_t
    var session: pid_t
    var comm: String
    var cmdline: String
}

func processTable() -> [ProcInfo] {
    SystemFacts.processes().map { st in
        let cmd = (SystemFacts.commandLine(of: st.pid) ?? []).joined(separator: " ")
        return ProcInfo(pid: st.pid, ppid: st.parent, session: st.session, comm: st.name, cmdline: cmd)
    }
}

/// Live processes whose command line contains `marker` (zombies have an empty one).
func processes(matching marker: String) -> [ProcInfo] {
    processTable().filter { $0.pid != getpid() && $0.cmdline.contains(marker) }
}

/// Waits up to `timeout` for no process to match `marker`; returns the ones left.
func waitForNoProcesses(matching marker: String, timeout: Double = 3) async -> [ProcInfo] {
    let end = now() + timeout
    while true {
        let left = processes(matching: marker)
        if left.isEmpty || now() > end { return left }
        try? await Task.sleep(for: .milliseconds(100))
    }
}

/// A fresh temporary directory, removed by `remove()`.
struct TempDir: Sendable {
    let path: String
    init() {
        var template = Array((NSTemporaryDirectory() + "/ppdash-e2e-XXXXXX").utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = p.map { String(cString: $0) } ?? NSTemporaryDirectory() + "/ppdash-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
