// The journal writer: an observer on the scheduler that puts one JSON line per event into the file.
import Foundation
import PPKit
import PPSource
import Synchronization

import Glibc

/// Writes a journal: the header, then a line per scheduler event, each handed to the kernel (write(2)) before
/// `record` returns, so a caller that records before it prints never prints a task the journal lacks.
///
/// Lines that nothing can have shown yet are gathered (up to 64 KiB) and written with the next line that must go
/// at once, at `flush` (the dashboard flushes before each snapshot) or within 200 ms: `submitted` lines, `started`
/// lines without a process group, and `completed` lines when `gatherCompleted` is set (no printer follows the
/// journal). A `started` line with a process group is written at once, so a resume can find an orphan.
/// fsync runs at most every 200 ms, on a thread of its own, and at `finish`. A write that fails gives one
/// warning; the batch runs on without the journal.
public final class JournalWriter: Sendable {
    public let path: String
    /// The run this writer appends (1 for a new journal, 2... for a resume).
    public let run: Int
    private let scheduler: Scheduler
    private let warn: @Sendable (String) -> Void

    private struct State {
        var fd: Int32
        var buffer: [UInt8] = []
        var dirty = false
        var failed = false
        var closed = false
        var hosts: [EngineID: String] = [:]
        var batches: Set<BatchID> = []
        /// For a resume: the new task id -> the key of the task it runs again.
        var origins: [Int: String] = [:]
        var bytes = 0
        var lines = 0
    }
    private let state: Mutex<State>
    private let gather: Bool
    /// Held while fsync runs, so `finish` never closes the descriptor under it.
    private let syncing = Mutex<Void>(())

    /// Bytes gathered before `submitted` lines are written without waiting for another line.
    static let bufferLimit = 64 * 1024

    /// Opens `path` and writes `header` (a new journal), or appends a resume's header to an existing one.
    ///
    /// A new journal is created with O_EXCL, mode 0600: an existing file is never overwritten. `makeDirectory`
    /// creates missing parent directories (mode 0700), for the default place.
    public init(
        path: String, header: JournalHeader, scheduler: Scheduler, append: Bool = false, gatherCompleted: Bool = false,
        makeDirectory: Bool = true, warn: @escaping @Sendable (String) -> Void
    ) throws(JournalError) {
        self.path = path
        self.gather = gatherCompleted
        self.run = header.run
        self.scheduler = scheduler
        self.warn = warn
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !append && makeDirectory {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw JournalError(.cannotWrite, "cannot create the journal's directory \(dir): \(describe(error))")
            }
        }
        let flags = append ? (O_WRONLY | O_APPEND | O_CLOEXEC) : (O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC)
        let fd = open(path, flags, 0o600)
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST {
                throw JournalError(
                    .exists,
                    "the journal \(path) already exists: give another name, or 'ppdash resume \(path)' to continue it")
            }
            throw JournalError(.cannotWrite, "cannot write the journal \(path): \(SystemFacts.errorText(e))")
        }
        state = Mutex(State(fd: fd))
        let tornBefore = append && !JournalWriter.endsWithNewline(path)
        let headerError = state.withLock { s -> Int32? in
            if tornBefore { s.buffer.append(10) }  // close a torn last line first
            JournalEvent.header(header).write(to: &s.buffer)
            s.buffer.append(10)
            return flushLocked(&s, warnOnFailure: false)
        }
        if let headerError {
            close(fd)
            throw JournalError(.cannotWrite, "cannot write the journal \(path): \(SystemFacts.errorText(headerError))")
        }
        Thread.detachNewThread { [weak self] in
            while let me = self, me.syncOnce() { usleep(200_000) }
        }
    }

    /// Marks new task ids as runs of earlier tasks (resume), before they are submitted.
    public func setOrigins(_ origins: [Int: String]) {
        state.withLock { $0.origins.merge(origins) { $1 } }
    }

    /// Records one engine's arrival (the engines the scheduler had before the journal opened).
    public func recordEngine(_ e: EngineSnapshot) {
        state.withLock { s in
            s.hosts[e.id] = e.info.host
            append(.engine(id: e.id, kind: e.info.kind.rawValue, host: e.info.host), to: &s, now: true)
        }
    }

    /// Records one scheduler event; returns once its line reached the kernel (or was gathered, for `submitted`).
    /// Each line is encoded straight into the reused buffer.
    public func record(_ event: SchedulerEvent) {
        switch event {
        case .submitted(let task, let batch):
            let newBatch = state.withLock { s in s.batches.insert(batch).inserted }
            let label = newBatch ? batchLabel(batch) : ""
            guard let m = scheduler.metadata(task) else { return }
            state.withLock { s in
                if newBatch { append(.batch(id: batch, label: label), to: &s, now: false) }
                let line = JournalEvent.Submitted(
                    id: task.rawValue, batch: batch, seq: m.seq, command: m.text, args: m.args,
                    of: s.origins[task.rawValue])
                append(.submitted(line), to: &s, now: s.buffer.count >= JournalWriter.bufferLimit)
            }
        case .started(let task, let engine, let at, let processGroup):
            let known = state.withLock { $0.hosts[engine] }
            let host = known ?? lookUpHost(engine)
            state.withLock { s in
                s.hosts[engine] = host
                let line = JournalEvent.Started(
                    id: task.rawValue, engine: engine, host: host, processGroup: processGroup, at: at)
                append(.started(line), to: &s, now: processGroup != nil || s.buffer.count >= JournalWriter.bufferLimit)
            }
        case .completed(let task, _, _):
            guard let m = scheduler.metadata(task) else { return }
            let record = FlatTaskRecord(m)
            state.withLock { s in
                append(
                    .completed(record, of: s.origins[task.rawValue]), to: &s,
                    now: !gather || s.buffer.count >= JournalWriter.bufferLimit)
            }
        case .engineAdded(let id):
            let e = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.first { $0.id == id }
            let host = e?.info.host ?? "?"
            let kind = e?.info.kind.rawValue ?? "?"
            state.withLock { s in
                s.hosts[id] = host
                append(.engine(id: id, kind: kind, host: host), to: &s, now: true)
            }
        case .engineDied(let id, let reason):
            state.withLock { s in append(.engineDied(engine: id, reason: reason), to: &s, now: true) }
        }
    }

    /// Writes whatever is gathered.
    public func flush() {
        state.withLock { s in _ = flushLocked(&s) }
    }

    /// Writes the closing line (how the run ended and its counts), fsyncs and closes. Idempotent.
    public func finish(reason: String, totals: StatusCounts) {
        let line = JournalEvent.end(.init(reason: reason, at: SystemClock().now(), totals: totals))
        syncing.withLock { _ in
            state.withLock { s in
                guard !s.closed else { return }
                append(line, to: &s, now: true)
                if s.fd >= 0 {
                    fsync(s.fd)
                    close(s.fd)
                }
                s.fd = -1
                s.closed = true
            }
        }
    }

    /// Bytes and lines written so far (for the benchmark).
    public var written: (bytes: Int, lines: Int) { state.withLock { ($0.bytes, $0.lines) } }

    /// Whether writing failed (the warning was given).
    public var hasFailed: Bool { state.withLock { $0.failed } }

    // MARK: internals

    /// One round of the sync thread: writes gathered lines, fsyncs if anything was written; false once closed.
    private func syncOnce() -> Bool {
        syncing.withLock { _ in
            let (fd, dirty, closed) = state.withLock { s -> (Int32, Bool, Bool) in
                if !s.buffer.isEmpty { flushLocked(&s) }
                defer { s.dirty = false }
                return (s.fd, s.dirty, s.closed)
            }
            if closed { return false }
            if dirty && fd >= 0 { fsync(fd) }
            return true
        }
    }

    private func append(_ event: JournalEvent, to s: inout State, now: Bool) {
        guard !s.closed, !s.failed else { return }
        event.write(to: &s.buffer)
        s.buffer.append(10)
        s.lines += 1
        if now { flushLocked(&s) }
    }

    /// write(2) the whole buffer; on failure warn once (unless told not to), stop journaling and return errno.
    @discardableResult
    private func flushLocked(_ s: inout State, warnOnFailure: Bool = true) -> Int32? {
        guard !s.buffer.isEmpty, s.fd >= 0, !s.failed else { return nil }
        var off = 0
        let n = s.buffer.count
        let error: Int32? = s.buffer.withUnsafeBytes { raw -> Int32? in
            while off < n {
                let w = write(s.fd, raw.baseAddress! + off, n - off)
                if w < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                off += w
            }
            return nil
        }
        s.bytes += off
        s.buffer.removeAll(keepingCapacity: s.buffer.capacity <= 2 * JournalWriter.bufferLimit)
        s.dirty = true
        if let error {
            s.failed = true
            if warnOnFailure {
                warn(
                    "ppdash: cannot write the journal \(path): \(SystemFacts.errorText(error)); the batch runs on without it"
                )
            }
        }
        return error
    }

    private func batchLabel(_ batch: BatchID) -> String {
        let probe = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 1))
        var label = probe.batches.first { $0.id == batch }?.label
        if label == nil {
            let deeper = scheduler.snapshot(TableQuery(limit: 0, batchLimit: max(1, probe.batchCount - batch + 1)))
            label = deeper.batches.first { $0.id == batch }?.label
        }
        return label ?? ""
    }

    private func lookUpHost(_ engine: EngineID) -> String {
        scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.first { $0.id == engine }?.info.host ?? "?"
    }

    /// Whether the file is empty or ends with a newline.
    static func endsWithNewline(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return true }
        var last: UInt8 = 0
        guard pread(fd, &last, 1, size - 1) == 1 else { return true }
        return last == 10
    }
}

/// What a Foundation or system error means, in plain words (the one helper: `Messages.text`).
func describe(_ error: any Error) -> String { Messages.text(of: error) }
