// The journal writer: an observer on the scheduler that puts one JSON line per event into the file.
import Foundation
import PPJSON
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
/// fsync runs at most every 200 ms, on a thread of its own, and at `finish`.
///
/// A task's `started` line never waits behind a backlog of `submitted` lines (a batch of 50,000 queues 50,000 events
/// before the first start): the session's start hook (`recordStartNow`, on the engine's thread as the process
/// starts) writes it, with its `submitted` line if that is still queued; every 200 ms and every 1024 `submitted`
/// lines the writer also looks at what the engines run (starts without a hook). The event, when it comes, is not
/// written twice. So a resume's orphan check sees every task that ran.
///
/// A write that fails (ENOSPC, EIO, EFBIG) is loud: one line at once (`warn`), `onFailure` (the run stops
/// dispatching), and the lines that follow are kept (bounded) and written when the disk takes them again.
/// The file is locked (flock) while written: `ls` and `resume` see it is in use.
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
        var closed = false
        var hosts: [EngineID: String] = [:]
        /// Hosts as the file's `engine` lines name them (a `completed` line leaves out a host said there).
        var announced: [EngineID: String] = [:]
        var batches: Set<BatchID> = []
        /// For a resume: the new task id -> the task it runs again.
        var origins: [Int: Origin] = [:]
        /// For a resume: the same, computed (a resume of millions of tasks keeps no entry a task).
        var originOf: (@Sendable (Int) -> Origin?)?
        func origin(_ id: Int) -> Origin? { origins.isEmpty ? originOf?(id) : origins[id] ?? originOf?(id) }
        /// Tasks whose `submitted` / `started` line went ahead of their event (see the type's comment).
        var earlySubmitted: Set<Int> = []
        /// Process groups of the `started` lines written, by task, until the task completes.
        var startedWritten: [Int: Int32] = [:]
        /// The highest task id whose `submitted` line is written (events come in id order).
        var submittedUpTo = 0
        var submittedSinceLook = 0
        /// The first write error (errno), and bytes of lines dropped past `keepLimit` since.
        var error: Int32?
        var dropped = 0
        var bytes = 0
        /// write(2) calls that wrote something (group commit: fewer than lines).
        var writes = 0
        var lines = 0
        var linesAtProgress = 0
        /// Format 2: the open `submitted` range (consecutive tasks of one batch, one command, no arguments), not yet
        /// in `buffer`; closed (encoded) before any other line, at each write and at each tick.
        var range: JournalEvent.Submitted?
        /// `started` lines without a process group, not yet in `buffer`: dropped when the task's `completed` line
        /// comes first (it holds the start), written at `flush`, at each tick and at `finish`.
        var deferredStarts: [Int: JournalEvent.Started] = [:]
        /// Lines that stood for more than one event (a range of submitted tasks, a completion holding its start).
        var eventsSaved = 0
        /// The `,"command":...` field of the last batch whose tasks share one text (no-ops), encoded once.
        var sharedCommand: (batch: BatchID, field: [UInt8])?
    }

    /// A resumed task: the first run's key, and for a task of the first run its id and seq (which it keeps).
    public struct Origin: Sendable, Hashable {
        public var key: String
        public var seq: Int
        public var attempt: Int
        public init(key: String, seq: Int, attempt: Int) {
            self.key = key
            self.seq = seq
            self.attempt = attempt
        }
        /// The first run's id, when the key is one (a task first submitted in a resume keeps `of`).
        var id: Int? { Int(key) }
    }
    /// Counts of the journal's tasks this run does not run (a resume's), for the journal-wide totals.
    private let base = Mutex<StatusCounts>(StatusCounts())
    /// Called once, on the first failed write (the run stops dispatching).
    private let onFailure = Mutex<(@Sendable (String) -> Void)?>(nil)
    private let state: Mutex<State>
    private let gather: Bool
    /// Held while fsync runs, so `finish` never closes the descriptor under it.
    private let syncing = Mutex<Void>(())

    /// Bytes gathered before `submitted` lines are written without waiting for another line.
    static let bufferLimit = 64 * 1024
    /// Bytes kept after a failed write, for when the disk takes them again; past it lines are dropped (counted).
    static let keepLimit = 16 << 20
    /// `started` lines without a process group held back at most (about the running tasks: engines' count).
    static let maxDeferredStarts = 4096

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
        // A write past `ulimit -f` must fail with EFBIG, not end the process.
        SignalCatcher.ignore(SIGXFSZ)
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
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw JournalError(.inUse, "the journal \(path) is being written by another ppdash: 'ppdash attach \(path)' to watch it")
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
            // A journal this run created and could not even start: no half header left for `ls` to trip on.
            if !append { unlink(path) }
            throw JournalError(.cannotWrite, "cannot write the journal \(path): \(SystemFacts.errorText(headerError))")
        }
        Thread.detachNewThread { [weak self] in
            var round = 0
            while let me = self, me.syncOnce(progress: round % 10 == 9) {
                round += 1
                usleep(200_000)
            }
        }
    }

    /// Marks new task ids as runs of earlier tasks (resume), before they are submitted; `base`: the counts of the
    /// journal's tasks this run leaves alone (the journal-wide totals add this run's to them).
    public func setOrigins(_ origins: [Int: Origin], base: StatusCounts = StatusCounts()) {
        state.withLock { $0.origins.merge(origins) { $1 } }
        self.base.withLock { $0 = base }
    }

    /// As `setOrigins(_:base:)`, the origin of each new task id computed by `originOf` (nil: not a resumed task).
    public func setOrigins(computed originOf: @escaping @Sendable (Int) -> Origin?, base: StatusCounts) {
        state.withLock { $0.originOf = originOf }
        self.base.withLock { $0 = base }
    }

    /// Calls `handler` once with the message when a write fails (the run stops dispatching).
    public func onWriteFailure(_ handler: @escaping @Sendable (String) -> Void) {
        onFailure.withLock { $0 = handler }
    }

    /// The journal-wide counts: the tasks this run left alone, and this run's.
    public var journalTotals: StatusCounts {
        var c = base.withLock { $0 }
        let t = scheduler.totals
        for s in TaskStatus.allCases { c[s] += t[s] }
        return c
    }

    /// Records one engine's arrival (the engines the scheduler had before the journal opened).
    public func recordEngine(_ e: EngineSnapshot) {
        state.withLock { s in
            s.hosts[e.id] = e.info.host
            s.announced[e.id] = e.info.host
            append(.engine(id: e.id, kind: e.info.kind.rawValue, host: e.info.host), to: &s, now: true)
        }
    }

    /// Records one scheduler event; returns once its line reached the kernel (or was gathered, for `submitted`).
    /// Each line is encoded straight into the reused buffer.
    public func record(_ event: SchedulerEvent) { record([event]) }

    /// Records a delivery round's events (`Scheduler.addRoundObserver`), in order; returns once their lines reached
    /// the kernel (or were gathered: see the type's comment). The tasks' facts are looked up together (one hold of
    /// the scheduler's lock per 256 tasks), and the round's `completed` lines go in one write (group commit): a
    /// printer that follows the journal prints none of them before all are written.
    public func record(_ events: [SchedulerEvent]) {
        var ids = [TaskID]()
        ids.reserveCapacity(events.count)
        for e in events {
            switch e {
            case .submitted(let task, _), .completed(let task, _, _): ids.append(task)
            default: break
            }
        }
        let facts = ids.isEmpty ? [] : scheduler.facts(ids)
        var k = 0
        var completions = false
        // Starts without a process group, held by engine until the round's end: the task's completion in the same
        // round (the usual case for short tasks) holds its start, so the start needs no line and no bookkeeping.
        var held = [HeldStart?]()
        var touched = [EngineID]()
        // Tasks completed in this round whose start was not held on their engine (none, for short in-process tasks).
        var unmatched = Set<Int>()
        var answered = 0
        for e in events {
            switch e {
            case .submitted(let task, let batch):
                let f = facts[k]
                k += 1
                guard let f else { continue }
                if writeSubmitted(task, batch: batch, seq: f.seq, command: f.text, args: f.args) { writeStartsAhead() }
            case .started(let task, let engine, let at, let processGroup):
                guard processGroup == nil, engine >= 0, engine < JournalWriter.maxHeldEngine else {
                    writeStarted(task, engine: engine, at: at, processGroup: processGroup)
                    continue
                }
                if engine >= held.count { held.append(contentsOf: repeatElement(nil, count: engine + 1 - held.count)) }
                if let earlier = held[engine] {
                    // Another start on the same engine (a pipelining engine): the earlier one is written now, unless
                    // its task already completed in this round (its completed line holds the start).
                    if unmatched.contains(earlier.task.rawValue) {
                        answered += 1
                    } else {
                        writeStarted(earlier.task, engine: engine, at: earlier.at, processGroup: nil)
                    }
                } else {
                    touched.append(engine)
                }
                held[engine] = HeldStart(task: task, at: at)
            case .completed(let task, _, _):
                let f = facts[k]
                k += 1
                if let e = f?.engine, e < held.count, held[e]?.task == task {
                    held[e] = nil
                    answered += 1
                } else if !held.isEmpty {
                    unmatched.insert(task.rawValue)
                }
                guard let f else { continue }
                if f.hasExtras {
                    // Output, an error, an exit status: the whole record. The line keeps a few KiB of each stream;
                    // the spool file has the rest (the record says what was cut).
                    guard var m = scheduler.metadata(task) else { continue }
                    let (out, outCut) = m.stdout.cut(to: JournalFormat.outputKept)
                    let (err, errCut) = m.stderr.cut(to: JournalFormat.outputKept)
                    (m.stdout, m.stderr) = (out, err)
                    var record = FlatTaskRecord(m)
                    (record.stdoutCut, record.stderrCut) = (outCut, errCut)
                    writeCompleted(task, record)
                } else {
                    writeCompleted(task, facts: f)
                }
                completions = true
            case .engineAdded, .engineDied:
                recordOther(e)
            }
        }
        // The held starts no completion of this round answered (tasks still running; or, rarely, one that ran again
        // on another engine, whose completed line is written: no start after it).
        var left = [(EngineID, HeldStart)]()
        for e in touched {  // an engine may be in `touched` twice (a start, its completion, another start)
            guard let h = held[e] else { continue }
            left.append((e, h))
            held[e] = nil
        }
        let leftOver = left.count
        if !unmatched.isEmpty { left.removeAll { _, h in unmatched.contains(h.task.rawValue) } }
        for (e, h) in left { writeStarted(h.task, engine: e, at: h.at, processGroup: nil) }
        let saved = answered + leftOver - left.count
        // Group commit: the round's completed lines in one write, before any observer after this one sees them.
        state.withLock { s in
            s.lines += saved
            s.eventsSaved += saved
            if completions && !gather { _ = flushLocked(&s) }
        }
    }

    /// A start without a process group waiting for the round's end (see `record(_:)`).
    private struct HeldStart {
        var task: TaskID
        var at: Timestamp
    }
    /// Engine ids below this hold their starts for the round (an array by id, as long as the highest id that started
    /// a task in the round); others are written as they come.
    static let maxHeldEngine = 1024

    /// A `completed` line (written at the round's end, or gathered).
    private func writeCompleted(_ task: TaskID, _ record: FlatTaskRecord) {
        var record = record
        state.withLock { s in
                if !s.startedWritten.isEmpty { s.startedWritten[task.rawValue] = nil }
                if !s.deferredStarts.isEmpty, s.deferredStarts.removeValue(forKey: task.rawValue) != nil {
                    s.eventsSaved += 1
                }
                // The engine's line names its host: said again only when it differs.
                if let e = record.engine, let h = record.host, s.announced[e] == h { record.host = nil }
                var of: String?
                var attempt: Int?
                if let o = s.origin(task.rawValue) {
                    if let id = o.id {
                        record.id = String(id)
                        record.seq = o.seq
                        attempt = o.attempt
                    } else {
                        of = o.key
                    }
                }
                append(.completed(record, of: of, attempt: attempt), to: &s, now: s.buffer.count >= JournalWriter.bufferLimit)
            }
    }

    /// The `completed` line of a task its facts say all of (no output, error, exit status), encoded from the facts
    /// under one hold of the writer's lock (see `JournalEvent.appendCompleted`).
    private func writeCompleted(_ task: TaskID, facts f: TaskFacts) {
        let unknownEngine = state.withLock { s -> EngineID? in
            var host: String?
            if let e = f.engine {
                guard let h = s.hosts[e] else { return e }
                host = h
            }
            encodeCompleted(task, f, host: host, in: &s)
            return nil
        }
        // An engine the writer has not seen yet (rare): its host from the scheduler, off the writer's lock.
        if let e = unknownEngine {
            let host = lookUpHost(e)
            state.withLock { s in encodeCompleted(task, f, host: host, in: &s) }
        }
    }

    private func encodeCompleted(_ task: TaskID, _ f: TaskFacts, host: String?, in s: inout State) {
        if !s.startedWritten.isEmpty { s.startedWritten[task.rawValue] = nil }
        if !s.deferredStarts.isEmpty, s.deferredStarts.removeValue(forKey: task.rawValue) != nil {
            s.eventsSaved += 1
        }
        // The engine's line names its host: said again only when it differs.
        var host = host
        if let e = f.engine, let h = host, s.announced[e] == h { host = nil }
        var id = task.rawValue
        var of: String?
        var attempt: Int?
        if let o = s.origin(task.rawValue) {
            if let first = o.id {
                id = first
                attempt = o.attempt
            } else {
                of = o.key
            }
        }
        let command: [UInt8]
        if f.textIsShared, let c = s.sharedCommand, c.batch == f.batch {
            command = c.field
        } else {
            command = JournalEvent.commandField(f.text)
            if f.textIsShared { s.sharedCommand = (f.batch, command) }
        }
        appendLine(to: &s, now: s.buffer.count >= JournalWriter.bufferLimit) { out in
            JournalEvent.appendCompleted(f, id: id, command: command, host: host, of: of, attempt: attempt, to: &out)
        }
    }

    private func recordOther(_ event: SchedulerEvent) {
        switch event {
        case .submitted, .started, .completed:
            record([event])
        case .engineAdded(let id):
            let e = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.first { $0.id == id }
            let host = e?.info.host ?? "?"
            let kind = e?.info.kind.rawValue ?? "?"
            state.withLock { s in
                s.hosts[id] = host
                s.announced[id] = host
                append(.engine(id: id, kind: kind, host: host), to: &s, now: true)
            }
        case .engineDied(let id, let reason):
            state.withLock { s in append(.engineDied(engine: id, reason: reason), to: &s, now: true) }
        }
    }

    /// The `submitted` line of `task` (with its batch's line first, for a new batch that is not a resume's rerun);
    /// `early`: written ahead of its event (which is then skipped), unless the event was written meanwhile.
    /// Returns whether it is time to look at what the engines run (every 1024 `submitted` events).
    @discardableResult
    private func writeSubmitted(
        _ task: TaskID, batch: BatchID, seq: Int, command: String, args: [String], early: Bool = false
    ) -> Bool {
        if !early && args.isEmpty, let look = state.withLock({ s in extendRange(task, batch: batch, seq: seq, command: command, &s) }) {
            return look
        }
        let (origin, knownBatch) = state.withLock { s in
            (s.origin(task.rawValue), s.batches.contains(batch))
        }
        let newBatch = origin?.id == nil && !knownBatch
        let label = newBatch ? batchLabel(batch) : ""
        return state.withLock { s -> Bool in
            var look = false
            if !early {
                s.submittedSinceLook += 1
                if s.submittedSinceLook >= 1024 {
                    s.submittedSinceLook = 0
                    look = true
                }
            }
            if early {
                guard task.rawValue > s.submittedUpTo, s.earlySubmitted.insert(task.rawValue).inserted else { return look }
            } else if !s.earlySubmitted.isEmpty && s.earlySubmitted.remove(task.rawValue) != nil {
                return look
            }
            if origin?.id == nil && s.batches.insert(batch).inserted {
                append(.batch(id: batch, label: label), to: &s, now: false)
            }
            var line = JournalEvent.Submitted(
                id: task.rawValue, batch: batch, seq: seq, command: command, args: args, of: nil)
            if let o = origin {
                if let id = o.id {
                    line.id = id
                    line.seq = o.seq
                    line.attempt = o.attempt
                } else {
                    line.of = o.key
                }
            }
            if !early { s.submittedUpTo = max(s.submittedUpTo, task.rawValue) }
            if !early && origin == nil && line.args.isEmpty && !s.closed && s.error == nil {
                // Format 2: consecutive tasks of one batch with one command and no arguments share one line.
                if var r = s.range, r.batch == line.batch, r.command == line.command, (r.to ?? r.id) + 1 == line.id,
                    r.seq + r.count == line.seq, r.count < JournalEvent.maxRange
                {
                    r.to = line.id
                    s.range = r
                    s.eventsSaved += 1
                    s.lines += 1
                } else {
                    closeRange(&s)
                    s.range = line
                    s.lines += 1
                }
                if s.buffer.count >= JournalWriter.bufferLimit { flushLocked(&s) }
                return look
            }
            append(.submitted(line), to: &s, now: early || s.buffer.count >= JournalWriter.bufferLimit)
            return look
        }
    }

    /// The common case of a `submitted` event, under one hold of the lock: the next task of the open range (see
    /// `State.range`). Returns whether it is time to look at what the engines run, or nil when the task does not extend
    /// the range (`writeSubmitted` then does it all).
    private func extendRange(_ task: TaskID, batch: BatchID, seq: Int, command: String, _ s: inout State) -> Bool? {
        guard var r = s.range, r.batch == batch, (r.to ?? r.id) + 1 == task.rawValue, r.seq + r.count == seq,
            r.count < JournalEvent.maxRange, s.origins.isEmpty, s.originOf == nil, s.earlySubmitted.isEmpty, !s.closed,
            s.error == nil, r.command == command
        else { return nil }
        var look = false
        s.submittedSinceLook += 1
        if s.submittedSinceLook >= 1024 {
            s.submittedSinceLook = 0
            look = true
        }
        s.submittedUpTo = max(s.submittedUpTo, task.rawValue)
        r.to = task.rawValue
        s.range = r
        s.eventsSaved += 1
        s.lines += 1
        if s.buffer.count >= JournalWriter.bufferLimit { flushLocked(&s) }
        return look
    }

    /// The `started` line of one start of `task`, once: ahead of its event or from it, whichever comes first.
    private func writeStarted(
        _ task: TaskID, engine: EngineID, at: Timestamp, processGroup: Int32?, early: Bool = false
    ) {
        let known = state.withLock { $0.hosts[engine] }
        let host = known ?? lookUpHost(engine)
        state.withLock { s in
            if known == nil { s.hosts[engine] = host }
            if early {
                // Still running (checked under this lock): its `completed` line cannot be written before this one.
                // (The scheduler never calls an observer under its own lock, so taking it here is safe.) Two fields,
                // not the whole record: this runs on the engine's thread at every shell task's start.
                guard let g = processGroup, scheduler.runningProcessGroup(task) == g else { return }
            }
            if let g = processGroup {
                if s.startedWritten[task.rawValue] == g { return }
                s.startedWritten[task.rawValue] = g
            }
            var line = JournalEvent.Started(
                id: task.rawValue, engine: engine, host: host, processGroup: processGroup, at: at)
            if let o = s.origin(task.rawValue), let id = o.id {
                line.id = id
                line.attempt = o.attempt
            }
            if processGroup == nil && !early && s.deferredStarts.count < JournalWriter.maxDeferredStarts {
                // No process a resume could find: the line may wait (the completion usually replaces it).
                s.deferredStarts[task.rawValue] = line
                s.lines += 1
                return
            }
            append(.started(line), to: &s, now: processGroup != nil || s.buffer.count >= JournalWriter.bufferLimit)
        }
    }

    /// Writes the `started` line of a task whose process group just started (the scheduler's start hook, on the
    /// engine's thread), with its `submitted` line when that is still queued.
    public func recordStartNow(_ task: TaskID, engine: EngineID, at: Timestamp, processGroup: Int32) {
        if state.withLock({ task.rawValue > $0.submittedUpTo }) {
            // Its `submitted` line is still queued (rare: a batch's first tasks): the facts it needs, then the line.
            guard let f = scheduler.facts([task]).first ?? nil else { return }
            writeSubmitted(task, batch: f.batch, seq: f.seq, command: f.text, args: f.args, early: true)
        }
        writeStarted(task, engine: engine, at: at, processGroup: processGroup, early: true)
    }

    /// Writes now the `started` line of every task an engine runs whose event is still queued (behind `submitted`
    /// events), with its `submitted` line when that is queued too.
    func writeStartsAhead() {
        let engines = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines
        for e in engines {
            guard let task = e.currentTask, let m = scheduler.metadata(task), m.status == .running,
                let group = m.processGroup, let at = m.started
            else { continue }
            let (written, needsSubmitted) = state.withLock { s -> (Bool, Bool) in
                (s.startedWritten[task.rawValue] == group, task.rawValue > s.submittedUpTo)
            }
            if written { continue }
            if needsSubmitted { writeSubmitted(task, batch: m.batch, seq: m.seq, command: m.text, args: m.args, early: true) }
            writeStarted(task, engine: e.id, at: at, processGroup: group, early: true)
        }
    }

    /// Writes whatever is gathered.
    public func flush() {
        state.withLock { s in
            writeDeferredStarts(&s)
            _ = flushLocked(&s)
        }
    }

    /// Writes the closing line (how the run ended and its counts), fsyncs and closes. Idempotent.
    public func finish(reason: String, totals: StatusCounts) {
        let line = JournalEvent.end(.init(reason: reason, at: SystemClock().now(), totals: totals))
        let all = journalTotals
        syncing.withLock { _ in
            state.withLock { s in
                guard !s.closed else { return }
                writeDeferredStarts(&s)
                closeRange(&s)
                // The end line is always written (past the kept-lines bound too), its journal-wide counts patched into
                // its own closing brace: `ls` reads them from the last line (see `JournalGlance`).
                line.write(to: &s.buffer)
                s.buffer.removeLast()
                writeCounts(all, to: &s.buffer)
                s.buffer.append(UInt8(ascii: "}"))
                s.buffer.append(10)
                s.lines += 1
                flushLocked(&s)
                if s.fd >= 0 {
                    fsync(s.fd)
                    close(s.fd)
                }
                s.fd = -1
                s.closed = true
            }
        }
    }

    /// Bytes and events written so far (for the benchmark), and how many events shared a line with another.
    public var written: (bytes: Int, lines: Int) { state.withLock { ($0.bytes, $0.lines) } }
    public var eventsSaved: Int { state.withLock { $0.eventsSaved } }
    /// write(2) calls that wrote lines so far.
    public var writeCalls: Int { state.withLock { $0.writes } }

    /// Whether writing failed (the warning was given).
    public var hasFailed: Bool { state.withLock { $0.error != nil } }

    /// Why the journal could not be written (the system's words), or nil.
    public var failureReason: String? { state.withLock { s in s.error.map { SystemFacts.errorText($0) } } }

    /// The failure, as shown when it happened, or nil.
    public var failure: String? {
        state.withLock { s in s.error.map { failureText($0) } }
    }

    private func failureText(_ e: Int32) -> String {
        "ppdash: cannot write the journal \(path): \(SystemFacts.errorText(e)); no new task starts, running ones finish (a resume runs what the journal lacks)"
    }

    /// `,"run":N,"tasks":{"total":..,"ok":..,...}`: the journal-wide counts `ls` reads from a journal's last lines.
    private func writeCounts(_ c: StatusCounts, to out: inout [UInt8]) {
        out.append(contentsOf: Array(",\"run\":\(run),\"tasks\":".utf8))
        JSONObjectWriter.append(to: &out) { o in
            o.add("total", c.total)
            for s in TaskStatus.allCases { o.add(s.description, c[s]) }
        }
    }

    /// A `progress` line (journal-wide counts, for `ls`), when lines were written since the last one.
    private func writeProgress(_ s: inout State, _ c: StatusCounts) {
        guard s.lines != s.linesAtProgress, !s.closed, s.error == nil else { return }
        s.buffer.append(contentsOf: Array("{\"event\":\"progress\",\"at\":\"".utf8))
        ISO8601.write(microseconds: SystemClock().now().microseconds, to: &s.buffer)
        s.buffer.append(UInt8(ascii: "\""))
        writeCounts(c, to: &s.buffer)
        s.buffer.append(contentsOf: [UInt8(ascii: "}"), 10])
        s.lines += 1
        s.linesAtProgress = s.lines
        flushLocked(&s)
    }

    // MARK: internals

    /// One round of the sync thread: writes gathered lines, fsyncs if anything was written; false once closed.
    private func syncOnce(progress: Bool) -> Bool {
        writeStartsAhead()
        let counts = progress ? journalTotals : nil
        return syncing.withLock { _ in
            let (fd, dirty, closed) = state.withLock { s -> (Int32, Bool, Bool) in
                writeDeferredStarts(&s)
                if let counts { writeProgress(&s, counts) }
                if !s.buffer.isEmpty || s.range != nil { flushLocked(&s) }
                defer { s.dirty = false }
                return (s.fd, s.dirty, s.closed)
            }
            if closed { return false }
            if dirty && fd >= 0 { fsync(fd) }
            return true
        }
    }

    /// Encodes the open `submitted` range into the buffer (before any other line: the file stays in event order).
    private func closeRange(_ s: inout State) {
        guard let r = s.range else { return }
        s.range = nil
        guard !s.closed else { return }
        if s.error != nil && s.buffer.count > JournalWriter.keepLimit {
            s.dropped += 1
            return
        }
        JournalEvent.submitted(r).write(to: &s.buffer)
        s.buffer.append(10)
    }

    /// Encodes the deferred `started` lines (tasks still running), in id order.
    private func writeDeferredStarts(_ s: inout State) {
        guard !s.deferredStarts.isEmpty else { return }
        closeRange(&s)
        let lines = s.deferredStarts.values.sorted { $0.id < $1.id }
        s.deferredStarts.removeAll(keepingCapacity: true)
        for line in lines {
            append(.started(line), to: &s, now: false)
            s.lines -= 1  // counted when deferred
        }
    }

    private func append(_ event: JournalEvent, to s: inout State, now: Bool) {
        appendLine(to: &s, now: now) { event.write(to: &$0) }
    }

    /// One line `encode` appends to the buffer (without its newline), after the open range; kept within the bound
    /// after a failed write; written at once when `now`.
    private func appendLine(to s: inout State, now: Bool, _ encode: (inout [UInt8]) -> Void) {
        guard !s.closed else { return }
        closeRange(&s)
        if s.error != nil && s.buffer.count > JournalWriter.keepLimit {
            s.dropped += 1
            return
        }
        encode(&s.buffer)
        s.buffer.append(10)
        s.lines += 1
        if now { flushLocked(&s) }
    }

    /// write(2) the whole buffer; on the first failure warn at once (unless told not to) and tell `onFailure`; what
    /// could not be written is kept and tried again at the next flush. Returns errno of a failed write.
    @discardableResult
    private func flushLocked(_ s: inout State, warnOnFailure: Bool = true) -> Int32? {
        closeRange(&s)
        guard !s.buffer.isEmpty, s.fd >= 0 else { return nil }
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
        if off > 0 { s.writes += 1 }
        if off == n {
            s.buffer.removeAll(keepingCapacity: s.buffer.capacity <= 2 * JournalWriter.bufferLimit)
        } else {
            s.buffer.removeFirst(off)
        }
        if off > 0 { s.dirty = true }
        if let error, s.error == nil {
            s.error = error
            if warnOnFailure {
                let text = failureText(error)
                warn(text)
                if let handler = onFailure.withLock({ $0 }) {
                    // Not under the state lock: the handler stops dispatch, whose events come back here.
                    Thread.detachNewThread { handler(text) }
                }
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
