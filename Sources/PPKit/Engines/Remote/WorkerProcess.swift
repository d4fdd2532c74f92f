import Foundation
import PPSystem
import Synchronization

/// A child that speaks the wire protocol on its stdin/stdout (`ppdash engine --stdio`, or ssh running one).
///
/// It starts in its own session, so the terminal's signals (Ctrl-C) reach only the scheduler, which stops it by
/// closing its input. One thread per child reads its stderr (the tail is kept for the death reason) and reaps it.
final class WorkerProcess: Sendable {
    let child: ChildProcess
    /// What the death reason calls it: "" for a worker process, "ssh " for ssh.
    let label: String
    /// The parent's ends: write to the child's stdin, read its stdout. The link takes them over.
    let input: Int32
    let output: Int32
    private let state = Mutex(State())

    private struct State {
        var stderrTail: [UInt8] = []
        var waiters: [@Sendable (ExitStatus?) -> Void] = []
        var reaped = false
    }

    private init(child: ChildProcess, label: String, input: Int32, output: Int32) {
        self.child = child
        self.label = label
        self.input = input
        self.output = output
    }

    /// Starts `path` (looked up in PATH if it has no slash) with `argv` and pipes for stdin, stdout and stderr.
    static func spawn(path: String, argv: [String], label: String) throws(PPError) -> WorkerProcess {
        do throws(Errno) {
            let inPipe = try OwnedDescriptor.pipe()
            let outPipe = try OwnedDescriptor.pipe()
            let errPipe = try OwnedDescriptor.pipe()
            let child: ChildProcess
            if let server = WorkerForkServers.server(path: path, argv: argv),
                let forked = try? server.spawn(stdin: inPipe.read.raw, stdout: outPipe.write.raw, stderr: errPipe.write.raw)
            {
                child = forked
            } else {
                var plan = SpawnPlan(
                    executable: path, arguments: argv,
                    descriptors: [
                        .copy(inPipe.read.raw, to: 0), .copy(outPipe.write.raw, to: 1), .copy(errPipe.write.raw, to: 2),
                    ],
                    grouping: .newSession)
                plan.searchPath = true
                child = try plan.spawn()
            }
            let p = WorkerProcess(
                child: child, label: label, input: inPipe.write.release(), output: outPipe.read.release())
            let errFd = errPipe.read.release()
            let thread = Thread { p.watch(stderr: errFd) }
            thread.name = "ppdash-worker-\(p.child.pid)"
            thread.stackSize = 256 << 10
            thread.start()
            return p
        } catch {
            throw PPError(.noEngine, "cannot start \(path): \(SystemFacts.errorText(error.rawValue))")
        }
    }

    /// Reads stderr (keeping the last 4 KiB) until the child's exit, then reaps it.
    private func watch(stderr fd: Int32) {
        let stderr = OwnedDescriptor(taking: fd)
        blockAllSignalsInThisThread()
        _ = child.watch(pipes: [stderr.raw], grace: 0, now: SystemTime.monotonicNanoseconds) { _, bytes in
            state.withLock { s in
                s.stderrTail.append(contentsOf: bytes)
                if s.stderrTail.count > 4096 { s.stderrTail.removeFirst(s.stderrTail.count - 4096) }
            }
        }
        stderr.close()
        let status = child.wait()
        let waiters = state.withLock { s -> [@Sendable (ExitStatus?) -> Void] in
            s.reaped = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w(status) }
    }

    /// Calls `body` with the exit status once the child is reaped (at once if it already is), on some thread.
    func onExit(_ body: @escaping @Sendable (ExitStatus?) -> Void) {
        let done = state.withLock { s -> Bool in
            if !s.reaped { s.waiters.append(body) }
            return s.reaped
        }
        if done { body(child.status) }
    }

    /// How it ended, in words: "killed by signal 9", "ssh exited 255: Permission denied (publickey).".
    var exitDescription: String? {
        guard state.withLock({ $0.reaped }), let st = child.status else { return nil }
        var text: String
        switch st {
        case .signalled(let sig): text = "\(label)killed by signal \(sig)"
        case .exited(let code): text = label.isEmpty ? "exited with status \(code)" : "\(label)exited \(code)"
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
