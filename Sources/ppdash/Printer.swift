import Foundation
import PPKit
import PPSource
import Synchronization

/// Prints each task's output as it completes (or in submission order).
final class Printer: Sendable {
    let json: Bool
    let keepOrder: Bool
    let quiet: Bool
    let scheduler: Scheduler
    /// Next seq to print and the outputs waiting for it (keep-order). Guarded by this Mutex.
    let pending = Mutex<(next: Int, held: [Int: TaskMetadata])>((0, [:]))
    /// stdout's reader is gone (EPIPE): nothing more is printed, and the run stops as a filter would.
    let outputClosed = Atomic<Bool>(false)

    init(json: Bool, keepOrder: Bool, scheduler: Scheduler, quiet: Bool) {
        self.json = json
        self.keepOrder = keepOrder
        self.scheduler = scheduler
        self.quiet = quiet
    }

    func completed(_ task: TaskID, batch: BatchID) {
        guard !quiet, let m = scheduler.metadata(task) else { return }
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
            ok = writeAll(1, FlatTaskRecord(m).jsonLine() + "\n")
        } else {
            if !m.stdout.text.isEmpty { ok = writeAll(1, m.stdout.text) }
            if !m.stderr.text.isEmpty { _ = writeAll(2, m.stderr.text) }
            if m.status != .ok, let e = m.error {
                _ = writeAll(2, "ppdash: task \(m.id) (\(m.text)) \(m.status): \(e)\n")
            }
        }
        if !ok { outputClosed.store(true, ordering: .relaxed) }
    }
}

/// write(2) all of `s` to `fd`, so outputs of concurrent tasks never interleave within one task; false once the
/// reader is gone (EPIPE: SIGPIPE is ignored process-wide, by NIO).
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
