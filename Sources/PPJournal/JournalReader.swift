// Reads a journal back: its runs, and every task's latest state across them (a resume's tasks count as the originals).
import Foundation
import Glibc
import PPJSON
import PPKit

/// How a task ended, as its `completed` line says.
public struct JournalOutcome: Sendable, Hashable {
    public var exit: Int32?
    public var signal: Int32?
    public var stdout: String
    public var stderr: String
    public var stdoutDropped: Int
    public var stderrDropped: Int
    public var error: String?
    public var engineHost: String?
    /// The exact bytes where the line carried them (`stdout_base64`), and the spool files.
    public var stdoutBytes: [UInt8]? = nil
    public var stderrBytes: [UInt8]? = nil
    public var stdoutSpool: String? = nil
    public var stderrSpool: String? = nil
    /// `cpu_user`, `cpu_system`, `max_rss` of the line, when it has them.
    public var usage: ResourceUsage? = nil
}

extension JournalOutcome {
    /// The outcome a `completed` line's record says (the one place a record becomes an outcome).
    init(_ r: FlatTaskRecord) {
        self.init(
            exit: r.exit, signal: r.signal, stdout: r.stdout, stderr: r.stderr, stdoutDropped: r.stdoutDropped,
            stderrDropped: r.stderrDropped, error: r.error, engineHost: r.host, stdoutBytes: r.stdoutBytes,
            stderrBytes: r.stderrBytes, stdoutSpool: r.stdoutSpool, stderrSpool: r.stderrSpool, usage: r.usage)
    }
}

/// An outcome held by reference: a task record stays small (the task table is what a reader keeps per task).
final class OutcomeBox: Sendable, Hashable {
    let value: JournalOutcome
    init(_ value: JournalOutcome) { self.value = value }
    static func == (a: OutcomeBox, b: OutcomeBox) -> Bool { a.value == b.value }
    func hash(into h: inout Hasher) { h.combine(value) }
}

/// One task as the journal knows it, under its original key (a resume's run of it updates the same task).
public struct JournalTask: Sendable, Hashable {
    /// The task's key: its id in the first run, `RUN.ID` for a task first submitted in a later run.
    public var key: String
    /// The batch it belongs to, numbered across the journal from 1.
    public var batch: Int
    public var seq: Int
    /// The batch's label: the template, for shell sweeps.
    public var label: String
    public var command: String
    public var args: [String]
    public var status: TaskStatus
    public var engine: Int?
    public var host: String?
    /// The process group of its last start.
    public var processGroup: Int32?
    /// The run (1, 2...) of its last event.
    public var run: Int
    public var submitted: Timestamp
    public var started: Timestamp?
    public var completed: Timestamp?
    public var retries: Int
    /// How it ended, as its `completed` line says (kept out of line: most readers never look at it).
    public var outcome: JournalOutcome? {
        get { boxedOutcome?.value }
        set { boxedOutcome = newValue.map(OutcomeBox.init) }
    }
    private var boxedOutcome: OutcomeBox?
    /// Where its `completed` line starts in the file, when the reader left its outcome there (`read` with
    /// `keepOutput: false`, then `outcome` is nil): `JournalReader.outcome(at:in:)` reads it back.
    public var outputOffset: Int64? = nil
    /// Which run of the task this is: 1, then 2 after a resume ran it again...
    public var attempt: Int = 1

    public init(
        key: String, batch: Int, seq: Int, label: String, command: String, args: [String], status: TaskStatus,
        engine: Int?, host: String?, processGroup: Int32?, run: Int, submitted: Timestamp, started: Timestamp?,
        completed: Timestamp?, retries: Int, outcome: JournalOutcome?, attempt: Int = 1
    ) {
        self.key = key
        self.batch = batch
        self.seq = seq
        self.label = label
        self.command = command
        self.args = args
        self.status = status
        self.engine = engine
        self.host = host
        self.processGroup = processGroup
        self.run = run
        self.submitted = submitted
        self.started = started
        self.completed = completed
        self.retries = retries
        self.attempt = attempt
        self.outcome = outcome
    }
}

/// One run (the first, or a resume) of a journal.
public struct JournalRun: Sendable, Hashable {
    public var header: JournalHeader
    /// The closing line's reason (`done`, `stopped`...), when the run wrote one.
    public var endReason: String?
    public var endedAt: Timestamp?
    /// The time of the last line of this run.
    public var lastEvent: Timestamp?
    /// Engines of this run by id.
    public var engines: [Int: JournalEngine]
}

/// An engine as the journal recorded it.
public struct JournalEngine: Sendable, Hashable {
    public var kind: String
    public var host: String
}

/// A journal read back.
public struct JournalContents: Sendable {
    public var path: String
    public var runs: [JournalRun]
    /// Tasks in order of first submission.
    public var tasks: [JournalTask]
    /// Batch labels by journal-wide batch number (1-based: `batchLabels[0]` is batch 1).
    public var batchLabels: [String]
    /// Lines skipped with a reason (a torn last line).
    public var warnings: [String]

    /// The last run: the one that counts for running / finished / interrupted.
    public var lastRun: JournalRun { runs[runs.count - 1] }
    /// The run finished with a closing line.
    public var isFinished: Bool { lastRun.endReason != nil }

    /// Counters over the tasks' latest states.
    public var counts: StatusCounts {
        var c = StatusCounts()
        for t in tasks { c[t.status] += 1 }
        return c
    }
}

/// Reads journals.
public enum JournalReader {
    /// Warnings kept per journal (more are counted in one last warning).
    static let maxWarnings = 20

    /// Reads and checks a journal, streaming it (memory: the task table, not the file); `owner` refuses another
    /// user's file.
    /// `keepOutput: false` leaves each task's stdout and stderr in the file (memory: ~150 B a task plus its
    /// command and arguments, whatever the output); `outcome(at:in:)` reads one back.
    public static func read(_ path: String, requireOwner: Bool = true, keepOutput: Bool = true) throws(JournalError)
        -> JournalContents
    {
        let fd = try openChecked(path, requireOwner: requireOwner)
        defer { close(fd) }
        var parser = LineParser(path: path)
        parser.b.keepOutput = keepOutput
        var failure: JournalError?
        let readError = forEachLine(fd) { number, offset, line, torn in
            do throws(JournalError) {
                try parser.line(number, line, torn: torn, offset: offset)
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        if let readError {
            throw JournalError(.cannotRead, "cannot read the journal \(path): \(SystemFacts.errorText(readError))")
        }
        return try parser.finish()
    }

    /// Parses journal text (exposed for tests); `maxPlanned`: see `Builder.maxPlanned`.
    public static func parse(_ data: Data, path: String, maxPlanned: Int = ViewFlags.maxBatchTasks) throws(JournalError) -> JournalContents {
        var parser = LineParser(path: path)
        parser.b.maxPlanned = maxPlanned
        var number = 0
        var failure: JournalError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            var s = 0
            let n = b.count
            while s < n {
                var e = s
                while e < n && b[e] != 10 { e += 1 }
                number += 1
                do throws(JournalError) {
                    try parser.line(number, UnsafeBufferPointer(rebasing: b[s..<e]), torn: e == n)
                } catch {
                    failure = error
                    return
                }
                s = e + 1
            }
        }
        if let failure { throw failure }
        return try parser.finish()
    }

    /// The outcome (with stdout and stderr) of the `completed` line at `offset` of the journal at `path`.
    public static func outcome(at offset: Int64, in path: String) -> JournalOutcome? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var line = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while line.count < 256 << 20 {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(offset) + off_t(line.count)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if let nl = chunk[0..<n].firstIndex(of: 10) {
                line.append(contentsOf: chunk[0..<nl])
                break
            }
            line.append(contentsOf: chunk[0..<n])
        }
        guard let j = try? JSONValue.parse(line), case .completed(let r, _, _)? = try? JournalEvent.decode(j) else {
            return nil
        }
        return JournalOutcome(r)
    }

    /// Refuses what `read` refuses before reading a line: another user's file, what is not a regular file, a file that
    /// cannot be opened (so `attach` can connect first and read the journal only if it shows it).
    public static func checkReadable(_ path: String) throws(JournalError) {
        close(try openChecked(path, requireOwner: true))
    }

    /// Opens a journal for reading, refusing another user's file (`requireOwner`) and what is not a regular file.
    static func openChecked(_ path: String, requireOwner: Bool) throws(JournalError) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw JournalError(.cannotRead, "cannot read the journal \(path): \(SystemFacts.errorText(errno))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw JournalError(.cannotRead, "cannot read the journal \(path): \(SystemFacts.errorText(e))")
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            throw JournalError(.notAJournal, "\(path) is not a ppdash journal (not a regular file)")
        }
        if requireOwner && st.st_uid != geteuid() {
            close(fd)
            let name = SystemFacts.userName(of: UInt32(st.st_uid))
            throw JournalError(
                .otherUser,
                "the journal \(path) belongs to \(name), not to you: ppdash resumes and attaches only your own journals")
        }
        return fd
    }

    /// Calls `body` with each line of `fd` (without its newline; `torn`: the last line, with no newline), reading
    /// 1 MiB at a time; stops when `body` returns false. Returns errno when a read fails.
    static func forEachLine(
        _ fd: Int32, _ body: (Int, Int64, UnsafeBufferPointer<UInt8>, Bool) -> Bool
    ) -> Int32? {
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var carry = [UInt8]()
        var number = 0
        /// The file offset of `buffer[0]`, and of the line being carried.
        var base: Int64 = 0
        var carryStart: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { break }
            var go = true
            buffer.withUnsafeBufferPointer { b in
                var s = 0
                while s < n, go {
                    guard let nl = memchr(b.baseAddress! + s, 10, n - s) else {
                        if carry.isEmpty { carryStart = base + Int64(s) }
                        carry.append(contentsOf: UnsafeBufferPointer(rebasing: b[s..<n]))
                        return
                    }
                    let e = b.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                    number += 1
                    if carry.isEmpty {
                        go = body(number, base + Int64(s), UnsafeBufferPointer(rebasing: b[s..<e]), false)
                    } else {
                        carry.append(contentsOf: UnsafeBufferPointer(rebasing: b[s..<e]))
                        go = carry.withUnsafeBufferPointer { body(number, carryStart, $0, false) }
                        carry.removeAll(keepingCapacity: carry.capacity <= chunk)
                    }
                    s = e + 1
                }
            }
            base += Int64(n)
            if !go { return nil }
        }
        if !carry.isEmpty {
            number += 1
            _ = carry.withUnsafeBufferPointer { body(number, carryStart, $0, true) }
        }
        return nil
    }

    /// Checks lines one by one and folds them: the first must be a run header; any other line that is not a valid
    /// event is skipped with a warning naming the file and line.
    struct LineParser {
        let path: String
        var b: Builder
        var sawFirst = false
        var skipped = 0

        init(path: String) {
            self.path = path
            b = Builder(path: path)
        }

        mutating func warn(_ text: String) {
            skipped += 1
            if b.warnings.count < JournalReader.maxWarnings { b.warnings.append(text) }
        }

        mutating func line(_ number: Int, _ bytes: UnsafeBufferPointer<UInt8>, torn: Bool, offset: Int64 = -1)
            throws(JournalError)
        {
            b.offset = offset
            if bytes.isEmpty { return }
            let value: JSONValue? = bytes.first == UInt8(ascii: "{") ? (try? JSONValue.parse(bytes)) : nil
            if !sawFirst {
                sawFirst = true
                guard let head = value, head.object != nil, let version = head[JournalFormat.versionKey]?.int else {
                    if torn {
                        throw JournalError(
                            .corrupt,
                            "\(path) holds only a torn first line: ppdash was killed as it started; nothing to resume")
                    }
                    throw JournalError(.notAJournal, "\(path) is not a ppdash journal (its first line is no journal header)")
                }
                if version > JournalFormat.version {
                    throw JournalError(
                        .newerFormat,
                        "\(path) was written by a newer ppdash (journal format \(version); this ppdash reads up to \(JournalFormat.version)): use that ppdash or a newer one"
                    )
                }
                do throws(JournalEvent.LineProblem) {
                    guard case .header(let h) = try JournalEvent.decode(head) else { throw JournalEvent.LineProblem("") }
                    b.add(.header(h))
                } catch {
                    throw JournalError(.notAJournal, "\(path) is not a ppdash journal (its header is damaged: \(error.description))")
                }
                return
            }
            guard let j = value, j.object != nil else {
                if torn {
                    warn("\(path): line \(number) is incomplete (ppdash was killed while writing it); skipped")
                } else if bytes.firstIndex(of: 0) != nil {
                    warn("\(path): line \(number) holds NUL bytes (not a journal line); skipped")
                } else {
                    warn("\(path): line \(number) is not a journal line (incomplete or damaged); skipped")
                }
                return
            }
            if let v = j[JournalFormat.versionKey], let n = v.int, n > JournalFormat.version {
                throw JournalError(
                    .newerFormat,
                    "\(path) was resumed by a newer ppdash (journal format \(n); this ppdash reads up to \(JournalFormat.version))"
                )
            }
            do throws(JournalEvent.LineProblem) {
                if let event = try JournalEvent.decode(j) { b.add(event) }
            } catch {
                warn("\(path): line \(number) is damaged (\(error.description)); skipped")
            }
        }

        mutating func finish() throws(JournalError) -> JournalContents {
            guard sawFirst else { throw JournalError(.notAJournal, "\(path) is empty: not a ppdash journal") }
            if skipped > JournalReader.maxWarnings {
                b.warnings.append("\(path): \(skipped - JournalReader.maxWarnings) more damaged lines skipped")
            }
            return b.contents()
        }
    }

    /// Folds lines into runs and tasks.
    struct Builder {
        let path: String
        var runs: [JournalRun] = []
        var tasks: [JournalTask] = []
        var index: [String: Int] = [:]
        /// Within the current run: task id -> index in `tasks` (tasks first submitted in it, and `of` reruns).
        var local: [Int: Int] = [:]
        /// Within the current run: batch id -> journal-wide batch number.
        var localBatches: [Int: Int] = [:]
        var batchLabels: [String] = []
        var warnings: [String] = []
        /// Whether outcomes keep stdout and stderr (else the `completed` line's offset, `offset`, is kept).
        var keepOutput = true
        var offset: Int64 = -1
        /// At most this many tasks of the first run's sweep that were never submitted are planned (a sweep may be
        /// of any size); past it, a warning says how many are not.
        var maxPlanned = ViewFlags.maxBatchTasks

        init(path: String) { self.path = path }

        /// The task a line names: a resumed task's (`attempt`) by its first run's id, else by this run's id.
        func find(_ id: Int, attempt: Int?) -> Int? {
            attempt != nil ? index[String(id)] : local[id]
        }

        mutating func add(_ event: JournalEvent) {
            if case .header(var header) = event {
                if runs.isEmpty, header.kind == "run", let groups = header.arguments, !groups.isEmpty {
                    // The run's task count is known: one allocation for the table, not a doubling copy at its peak.
                    var n = 1
                    for g in groups { n = n.multipliedReportingOverflow(by: g.count).overflow ? Int.max : n * g.count }
                    if n < 50_000_000 {
                        tasks.reserveCapacity(n)
                        index.reserveCapacity(n)
                    }
                }
                header.run = runs.count + 1
                runs.append(JournalRun(header: header, endReason: nil, endedAt: nil, lastEvent: nil, engines: [:]))
                local = [:]
                if runs.count == 1 { local.reserveCapacity(tasks.capacity) }
                localBatches = [:]
                return
            }
            guard !runs.isEmpty else { return }
            let run = runs.count
            switch event {
            case .header: break
            case .batch(let batch, let label):
                batchLabels.append(label)
                localBatches[batch] = batchLabels.count
            case .submitted(let e) where e.to != nil:
                // Format 2: one line for consecutive tasks of one batch (one command, no arguments).
                var one = e
                one.to = nil
                for k in 0..<e.count {
                    one.id = e.id + k
                    one.seq = e.seq + k
                    add(.submitted(one))
                }
            case .submitted(let e):
                let submitted = runs[run - 1].lastEvent ?? runs[run - 1].header.started
                if let i = (e.of.flatMap { index[$0] }) ?? (e.attempt != nil ? index[String(e.id)] : nil) {
                    if e.attempt == nil { local[e.id] = i }
                    tasks[i].run = run
                    tasks[i].attempt = e.attempt ?? tasks[i].attempt + 1
                    if !tasks[i].status.isFinished || tasks[i].status.isFailure { tasks[i].status = .pending }
                    return
                }
                // A resumed task whose first `submitted` line never reached the disk: it belongs to the first batch.
                let key = e.attempt != nil ? String(e.id) : JournalFormat.key(run: run, id: e.id)
                let batch: Int
                if e.attempt != nil {
                    if batchLabels.isEmpty { batchLabels.append(runs[0].header.template ?? "") }
                    batch = 1
                } else {
                    if localBatches[e.batch] == nil {
                        batchLabels.append("")
                        localBatches[e.batch] = batchLabels.count
                    }
                    batch = localBatches[e.batch]!
                }
                let t = JournalTask(
                    key: key, batch: batch, seq: e.seq, label: batchLabels[batch - 1], command: e.command, args: e.args,
                    status: .pending, engine: nil, host: nil, processGroup: nil, run: run, submitted: submitted,
                    started: nil, completed: nil, retries: 0, outcome: nil, attempt: e.attempt ?? 1)
                index[key] = tasks.count
                if e.attempt == nil { local[e.id] = tasks.count }
                tasks.append(t)
            case .started(let e):
                guard let i = find(e.id, attempt: e.attempt) else { return }
                tasks[i].status = .running
                tasks[i].run = run
                tasks[i].engine = e.engine
                tasks[i].host = e.host
                tasks[i].processGroup = e.processGroup
                tasks[i].started = e.at
                tasks[i].completed = nil
                if let t = e.at { runs[run - 1].lastEvent = t }
            case .completed(let r, _, let attempt):
                guard let id = Int(r.id), let i = find(id, attempt: attempt) else { return }
                let status = TaskStatus(name: r.status) ?? .error
                tasks[i].status = status.isFinished ? status : .error
                tasks[i].run = run
                var r = r
                // Format 2 leaves out the host when it is the engine's (its `engine` line says it).
                if r.host == nil, let e = r.engine { r.host = runs[run - 1].engines[e]?.host }
                tasks[i].engine = r.engine ?? tasks[i].engine
                tasks[i].host = r.host ?? tasks[i].host
                tasks[i].retries = r.retries
                if let s = r.started { tasks[i].started = s }
                tasks[i].completed = r.completed
                if r.submitted.microseconds != 0, tasks[i].run == 1 { tasks[i].submitted = r.submitted }
                if keepOutput || offset < 0 {
                    tasks[i].outcome = JournalOutcome(r)
                    tasks[i].outputOffset = nil
                } else {
                    // The whole outcome stays in the file: ~150 B a task in memory, whatever the task printed.
                    tasks[i].outcome = nil
                    tasks[i].outputOffset = offset
                }
                if let c = tasks[i].completed { runs[run - 1].lastEvent = c }
            case .engine(let id, let kind, let host):
                runs[run - 1].engines[id] = JournalEngine(kind: kind, host: host)
            case .end(let e):
                runs[run - 1].endReason = e.reason
                runs[run - 1].endedAt = e.at
            case .engineDied:
                break
            }
        }

        /// The tasks of the first run's sweep whose `submitted` line never reached the disk (ppdash was killed while
        /// the backlog was written): planned from the header's template and arguments, pending, never submitted.
        mutating func addUnwritten() {
            guard let first = runs.first, first.header.kind == "run", let text = first.header.template,
                let groups = first.header.arguments, !groups.isEmpty, let template = try? Template(text)
            else { return }
            let sweep = Sweep(template: template, groups: groups)
            let count = sweep.count
            guard count < Int.max else { return }
            // A sweep is made as it runs, so it may be of any size: at most this many are planned here (each is a
            // table row); the rest is said, never dropped silently.
            let planned = min(count, maxPlanned)
            // Only when the first batch numbers its tasks as `run` does: id == seq, from 1.
            var seen = [Bool](repeating: false, count: planned + 1)
            var seenPast = 0
            for t in tasks where t.batch == 1 {
                guard let id = Int(t.key), id == t.seq, (1...count).contains(id) else { return }
                if id <= planned { seen[id] = true } else { seenPast += 1 }
            }
            if planned < count {
                warnings.append(
                    "\(path): the run's sweep has \(thousands(count)) tasks; the \(thousands(count - planned - seenPast)) never submitted past task \(thousands(planned)) are not planned (at most \(thousands(planned)) are): resume does not run them")
            }
            if batchLabels.isEmpty { batchLabels.append(text) }
            tasks.reserveCapacity(planned)
            for seq in 1...planned where !seen[seq] {
                let work = ShellTask(template: template, args: sweep.arguments(at: seq - 1), seq: seq)
                index[String(seq)] = tasks.count
                tasks.append(
                    JournalTask(
                        key: String(seq), batch: 1, seq: seq, label: text, command: work.displayCommand,
                        args: work.args, status: .pending, engine: nil, host: nil, processGroup: nil, run: 1,
                        submitted: first.header.started, started: nil, completed: nil, retries: 0, outcome: nil,
                        attempt: 1))
            }
        }

        /// The contents, built in place (no copy of the task table).
        mutating func contents() -> JournalContents {
            addUnwritten()
            // Batches that hold no task (a resume's batch in journals before attempts): dropped, the rest renumbered.
            var used = [Bool](repeating: false, count: batchLabels.count + 1)
            for t in tasks where t.batch >= 1 && t.batch <= batchLabels.count { used[t.batch] = true }
            var renumber = [Int](repeating: 0, count: batchLabels.count + 1)
            var labels = [String]()
            for i in 1..<used.count where used[i] {
                labels.append(batchLabels[i - 1])
                renumber[i] = labels.count
            }
            for i in tasks.indices {
                let old = tasks[i].batch
                if old >= 1 && old < renumber.count && renumber[old] > 0 && renumber[old] != old {
                    tasks[i].batch = renumber[old]
                }
                if tasks[i].label.isEmpty && labels.indices.contains(tasks[i].batch - 1) {
                    tasks[i].label = labels[tasks[i].batch - 1]
                }
            }
            // Lines written ahead (a task that started while the batch's submitted lines were still being written)
            // leave tasks out of order: each batch in seq order, as submitted.
            var ordered = true
            for i in tasks.indices.dropFirst() where tasks[i - 1].batch == tasks[i].batch && tasks[i - 1].seq > tasks[i].seq {
                ordered = false
                break
            }
            if !ordered {
                let firstOf = Dictionary(tasks.enumerated().map { ($0.element.batch, $0.offset) }, uniquingKeysWith: min)
                tasks.sort { a, b in
                    a.batch != b.batch ? firstOf[a.batch]! < firstOf[b.batch]! : a.seq < b.seq
                }
            }
            index = [:]
            local = [:]
            let out = tasks
            tasks = []
            return JournalContents(path: path, runs: runs, tasks: out, batchLabels: labels, warnings: warnings)
        }
    }
}
