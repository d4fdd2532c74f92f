import Foundation
import PPKit
import PPSource
import Synchronization

/// Prints each task's output as it completes (or in submission order).
final class Printer: Sendable {
    let json: Bool
    let keepOrder: Bool
    let scheduler: Scheduler
    /// Next seq to print and the outputs waiting for it (keep-order). Guarded by this Mutex.
    let pending = Mutex<(next: Int, held: [Int: TaskMetadata])>((0, [:]))
    /// While the dashboard is to show the outputs: nothing is printed, the completed tasks are listed (ids only) in
    /// case it cannot start after all (`speak`). Guarded by this Mutex.
    private let silenced: Mutex<(on: Bool, missed: [TaskID])>
    /// stdout's reader is gone (EPIPE): nothing more is printed, and the run stops as a filter would.
    let outputClosed = Atomic<Bool>(false)

    init(json: Bool, keepOrder: Bool, scheduler: Scheduler, quiet: Bool) {
        self.json = json
        self.keepOrder = keepOrder
        self.scheduler = scheduler
        self.silenced = Mutex((quiet, []))
    }

    /// Prints from now on, starting with the tasks that completed while silenced (the dashboard could not open).
    func speak() {
        let missed = silenced.withLock { s -> [TaskID] in
            defer { s = (false, []) }
            return s.on ? s.missed : []
        }
        for task in missed { completed(task, batch: 0) }
    }

    func completed(_ task: TaskID, batch: BatchID) {
        let silent = silenced.withLock { s -> Bool in
            if s.on { s.missed.append(task) }
            return s.on
        }
        guard !silent, let m = scheduler.metadata(task) else { return }
        if !keepOrder { return emit(m) }
        let ready: [TaskMetadata] = pending.withLock { p in
            p.held[m.seq - 1] = m
            var out = [TaskMetadata]()
            while let next = p.held.removeValue(forKey: p.next) {
                out.append(next)
                p.next += 1
            }
            return out
        }
        for r in ready { emit(r) }
    }

    func flush() {
        let rest = pending.withLock { p -> [TaskMetadata] in
            let r = p.held.sorted { $0.key < $1.key }
            p.held.removeAll()
            if let last = r.last { p.next = max(p.next, last.key + 1) }
            return r.map(\.value)
        }
        for r in rest { emit(r) }
    }

    private func emit(_ m: TaskMetadata) {
        guard !outputClosed.load(ordering: .relaxed) else { return }
        var ok = true
        if json {
            ok = statusLine.write(1, FlatTaskRecord(m).jsonLine() + "\n")
        } else {
            // Through the progress line's lock: a line drawn on the terminal is erased before the output.
            if !m.stdout.text.isEmpty { ok = statusLine.write(1, m.stdout.text) }
            if !m.stderr.text.isEmpty { _ = statusLine.write(2, m.stderr.text) }
            // A task aborted before it started (a stopped batch) is counted in the summary, not listed: stopping
            // ten million pending tasks is one line.
            if m.status != .ok, let e = m.error, !(m.status == .aborted && m.started == nil) {
                _ = statusLine.write(2, "ppdash: task \(m.id) (\(Messages.quoted(command: m.text))) \(m.status): \(e)\n")
            }
        }
        if !ok { outputClosed.store(true, ordering: .relaxed) }
    }
}

/// write(2) all of `s` to `fd`, so outputs of concurrent tasks never interleave within one task; false once the
/// reader is gone (EPIPE: `run` ignores SIGPIPE).
func writeAll(_ fd: Int32, _ s: String) -> Bool {
    var bytes = Array(s.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 {
            if errno == EINTR { continue }
            return errno != EPIPE
        }
        off += n
    }
    return true
}
