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
    /// The tasks as compact rows (command, arguments and output stay in the file).
    public var table: JournalTaskTable
    /// Tasks in order of first submission, each made from its row when read.
    public var tasks: JournalTasks { JournalTasks(table: table) }
    /// Batch labels by journal-wide batch number (1-based: `batchLabels[0]` is batch 1).
    public var batchLabels: [String]
    /// Lines skipped with a reason (a torn last line).
    public var warnings: [String]

    /// The last run: the one that counts for running / finished / interrupted.
    public var lastRun: JournalRun { runs[runs.count - 1] }
    /// The run finished with a closing line.
    public var isFinished: Bool { lastRun.endReason != nil }

    /// Counters over the tasks' latest states.
    public var counts: StatusCounts { table.counts }
}

/// Reads journals.
public enum JournalReader {
    /// Warnings kept per journal (more are counted in one last warning).
    static let maxWarnings = 20

    /// Reads and checks a journal, streaming it (memory: the task table, not the file); `owner` refuses another
    /// user's file.
    /// Memory: one compact row a task (`JournalTaskTable`, about 100 B), whatever its command, arguments and output:
    /// those are read back from the file when a task is asked for. `keepOutput: true` keeps each outcome in memory
    /// too; `false` leaves it in the file (`outcome(at:in:)` reads one back).
    public static func read(_ path: String, requireOwner: Bool = true, keepOutput: Bool = true) throws(JournalError)
        -> JournalContents
    {
        let fd = try openChecked(path, requireOwner: requireOwner)
        defer { close(fd) }
        var parser = LineParser(path: path, file: JournalLines(path: path))
        parser.b.keepOutput = keepOutput
        var st = stat()
        if fstat(fd, &st) == 0 { parser.b.fileBytes = Int(st.st_size) }
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
        parser.b.fileBytes = data.count
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

        init(path: String, file: JournalLines? = nil) {
            self.path = path
            b = Builder(path: path, file: file)
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
                    warn("\(path): line \(number) is incomplete (its writing stopped mid-line: ppdash killed, or the disk full); skipped")
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

    /// Folds lines into runs and compact task rows.
    struct Builder {
        typealias Row = JournalTaskTable.Row
        let path: String
        var runs: [JournalRun] = []
        var table: JournalTaskTable
        /// Task key -> row: a first-run key `ID` is the id; `RUN.ID` is `-(RUN << 48 | ID)`.
        var index: [Int: Int32] = [:]
        /// Within a resume's run: task id -> row (tasks first submitted in it, and `of` reruns). The first run's ids
        /// are its keys (`index`).
        var local: [Int: Int32] = [:]
        /// Within the current run: batch id -> journal-wide batch number.
        var localBatches: [Int: Int] = [:]
        var batchLabels: [String] = []
        var hostIndex: [String: Int32] = [:]
        var warnings: [String] = []
        /// Whether outcomes are kept in memory (else the `completed` line's offset, `offset`, is kept).
        var keepOutput = true
        var offset: Int64 = -1
        /// At most this many tasks of the first run's sweep that were never submitted are planned (a sweep may be
        /// of any size); past it, a warning says how many are not.
        var maxPlanned = ViewFlags.maxBatchTasks
        /// The journal's size in bytes (bounds the rows reserved up front).
        var fileBytes = Int.max

        init(path: String, file: JournalLines?) {
            self.path = path
            table = JournalTaskTable(file: file)
        }

        /// The index key of task key `RUN.ID` (`ID` for the first run).
        static func indexKey(run: Int, id: Int) -> Int {
            run <= 1 ? id : -((min(run, 32_767) << 48) | (id & ((1 << 48) - 1)))
        }

        /// The index key of a key as written (`ID` or `RUN.ID`), nil if it is neither.
        static func indexKey(_ key: String) -> Int? {
            if let id = Int(key) { return indexKey(run: 1, id: id) }
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let r = Int(parts[0]), let id = Int(parts[1]), r >= 1, id >= 0 else { return nil }
            return indexKey(run: r, id: id)
        }

        /// The task a line names: a resumed task's (`attempt`) by its first run's id, else by this run's id.
        func find(_ id: Int, attempt: Int?) -> Int? {
            if attempt != nil { return index[id].map(Int.init) }
            if let i = local[id] { return Int(i) }
            return runs.count <= 1 ? index[id].map(Int.init) : nil
        }

        mutating func host(_ name: String?) -> Int32 {
            guard let name else { return -1 }
            if let h = hostIndex[name] { return h }
            let h = Int32(clamping: table.hosts.count)
            table.hosts.append(name)
            hostIndex[name] = h
            return h
        }

        /// Where a new row's command and arguments are found: its line, or (no file) a copy in memory.
        mutating func textAt(_ command: String, _ args: [String]) -> Int64 {
            if offset >= 0 && table.file != nil { return offset }
            table.texts.append(CommandText(command: command, args: args))
            return -3 - Int64(table.texts.count - 1)
        }

        mutating func add(_ event: JournalEvent) {
            if case .header(var header) = event {
                if runs.isEmpty, header.kind == "run", let groups = header.arguments, !groups.isEmpty {
                    // The run's task count is known: one allocation for the table, not a doubling copy at its peak.
                    var n = 1
                    for g in groups { n = n.multipliedReportingOverflow(by: g.count).overflow ? Int.max : n * g.count }
                    // At most a row per `submitted` line the file can hold (a run makes a range's tasks as it
                    // dispatches them: a journal killed early holds few).
                    n = min(n, fileBytes / 48)
                    if n < 50_000_000 {
                        table.rows.reserveCapacity(n)
                        index.reserveCapacity(n)
                    }
                }
                header.run = runs.count + 1
                runs.append(JournalRun(header: header, endReason: nil, endedAt: nil, lastEvent: nil, engines: [:]))
                local = [:]
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
                // Format 2: one line for consecutive tasks of one batch (one command, no arguments): each row reads
                // its command back from this line.
                var one = e
                one.to = nil
                one.args = []
                for k in 0..<e.count {
                    one.id = e.id + k
                    one.seq = e.seq + k
                    add(.submitted(one))
                }
            case .submitted(let e):
                let submitted = runs[run - 1].lastEvent ?? runs[run - 1].header.started
                if let i = (e.of.flatMap { Self.indexKey($0) }.flatMap { index[$0] }.map(Int.init))
                    ?? (e.attempt != nil ? index[e.id].map(Int.init) : nil)
                {
                    if e.attempt == nil { local[e.id] = Int32(i) }
                    table.rows[i].run = Int32(clamping: run)
                    table.rows[i].attempt = Int32(clamping: e.attempt ?? Int(table.rows[i].attempt) + 1)
                    let st = table.rows[i].status
                    if !st.isFinished || st.isFailure { table.rows[i].status = .pending }
                    return
                }
                // A resumed task whose first `submitted` line never reached the disk: it belongs to the first batch.
                let keyRun = e.attempt != nil ? 1 : run
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
                let i = Int32(clamping: table.rows.count)
                table.rows.append(
                    Row(
                        seq: Int64(e.seq), keyID: Int64(e.id), submitted: submitted.microseconds, started: Row.none,
                        completed: Row.none, textAt: textAt(e.command, e.args), outputAt: Row.noOutcome,
                        batch: Int32(clamping: batch), keyRun: Int32(clamping: keyRun), engine: -1, processGroup: 0,
                        run: Int32(clamping: run), retries: 0, attempt: Int32(clamping: e.attempt ?? 1), host: -1,
                        status: .pending))
                index[Self.indexKey(run: keyRun, id: e.id)] = i
                if e.attempt == nil && run > 1 { local[e.id] = i }
            case .started(let e):
                guard let i = find(e.id, attempt: e.attempt) else { return }
                table.rows[i].status = .running
                table.rows[i].run = Int32(clamping: run)
                table.rows[i].engine = e.engine.map { Int32(clamping: $0) } ?? -1
                table.rows[i].host = host(e.host)
                table.rows[i].processGroup = e.processGroup ?? 0
                table.rows[i].started = e.at?.microseconds ?? Row.none
                table.rows[i].completed = Row.none
                if let t = e.at { runs[run - 1].lastEvent = t }
            case .completed(let r, _, let attempt):
                guard let id = Int(r.id), let i = find(id, attempt: attempt) else { return }
                let status = TaskStatus(name: r.status) ?? .error
                table.rows[i].status = status.isFinished ? status : .error
                table.rows[i].run = Int32(clamping: run)
                var r = r
                // Format 2 leaves out the host when it is the engine's (its `engine` line says it).
                if r.host == nil, let e = r.engine { r.host = runs[run - 1].engines[e]?.host }
                if let e = r.engine { table.rows[i].engine = Int32(clamping: e) }
                if r.host != nil { table.rows[i].host = host(r.host) }
                table.rows[i].retries = Int32(clamping: r.retries)
                if let s = r.started { table.rows[i].started = s.microseconds }
                table.rows[i].completed = r.completed?.microseconds ?? Row.none
                if r.submitted.microseconds != 0, table.rows[i].run == 1 { table.rows[i].submitted = r.submitted.microseconds }
                if keepOutput || offset < 0 {
                    table.outcomes.append(OutcomeBox(JournalOutcome(r)))
                    table.rows[i].outputAt = -2 - Int64(table.outcomes.count - 1)
                } else {
                    // The whole outcome stays in the file, whatever the task printed.
                    table.rows[i].outputAt = offset
                }
                if let c = r.completed { runs[run - 1].lastEvent = c }
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
            var seen = [Int]()
            var seenPast = 0
            for r in table.rows where r.batch == 1 {
                guard r.keyRun == 1, r.keyID == r.seq, r.seq >= 1, r.seq <= Int64(count) else { return }
                if r.seq <= Int64(planned) { seen.append(Int(r.seq)) } else { seenPast += 1 }
            }
            if planned < count {
                warnings.append(
                    "\(path): the run's sweep has \(thousands(count)) tasks; the \(thousands(count - planned - seenPast)) never submitted past task \(thousands(planned)) are not planned (at most \(thousands(planned)) are): resume does not run them")
            }
            if batchLabels.isEmpty { batchLabels.append(text) }
            // Planned without a row each: the seqs rows hold, as bits, and the range past them.
            let tail = PlannedTail(sweep: sweep, planned: planned, submitted: first.header.started.microseconds, seen: seen)
            if tail.count > 0 { table.tail = tail }
        }

        /// The contents, built in place (no copy of the task table).
        mutating func contents() -> JournalContents {
            index = [:]
            local = [:]
            hostIndex = [:]
            addUnwritten()
            // Batches that hold no task (a resume's batch in journals before attempts): dropped, the rest renumbered.
            var used = [Bool](repeating: false, count: batchLabels.count + 1)
            for r in table.rows where r.batch >= 1 && Int(r.batch) <= batchLabels.count { used[Int(r.batch)] = true }
            if table.tail != nil && used.count > 1 { used[1] = true }
            var renumber = [Int32](repeating: 0, count: batchLabels.count + 1)
            var labels = [String]()
            for i in 1..<used.count where used[i] {
                labels.append(batchLabels[i - 1])
                renumber[i] = Int32(labels.count)
            }
            for i in table.rows.indices {
                let old = Int(table.rows[i].batch)
                if old >= 1 && old < renumber.count && renumber[old] > 0 && renumber[old] != old {
                    table.rows[i].batch = renumber[old]
                }
            }
            // A batch with no label (its batch line lost) takes the first run's template when it is batch 1.
            if let t = runs.first?.header.template, !labels.isEmpty, labels[0].isEmpty, runs[0].header.kind == "run" {
                labels[0] = t
            }
            // Lines written ahead (a task that started while the batch's submitted lines were still being written)
            // leave tasks out of order: each batch in seq order, as submitted.
            var ordered = true
            for i in table.rows.indices.dropFirst()
            where table.rows[i - 1].batch == table.rows[i].batch && table.rows[i - 1].seq > table.rows[i].seq {
                ordered = false
                break
            }
            if !ordered {
                var firstOf = [Int32: Int]()
                for (i, r) in table.rows.enumerated() where firstOf[r.batch] == nil { firstOf[r.batch] = i }
                table.rows.sort { a, b in
                    a.batch != b.batch ? firstOf[a.batch]! < firstOf[b.batch]! : a.seq < b.seq
                }
            }
            table.labels = labels
            // The settled table: no spare capacity left from its growth (the index is gone, so no new peak).
            if table.rows.capacity - table.rows.count > table.rows.count / 16 {
                var exact = [Row]()
                exact.reserveCapacity(table.rows.count)
                exact.append(contentsOf: table.rows)
                table.rows = exact
            }
            let out = table
            table = JournalTaskTable(file: table.file)
            return JournalContents(path: path, runs: runs, table: out, batchLabels: labels, warnings: warnings)
        }
    }
}
