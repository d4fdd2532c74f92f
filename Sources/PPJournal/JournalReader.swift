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
    public var outcome: JournalOutcome?
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
    /// Reads and checks a journal; `owner` refuses another user's file.
    public static func read(_ path: String, requireOwner: Bool = true) throws(JournalError) -> JournalContents {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw JournalError(.cannotRead, "cannot read the journal \(path): \(SystemFacts.errorText(errno))")
        }
        if requireOwner && st.st_uid != geteuid() {
            let name = SystemFacts.userName(of: UInt32(st.st_uid))
            throw JournalError(
                .otherUser,
                "the journal \(path) belongs to \(name), not to you: ppdash resumes and attaches only your own journals")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalError(.cannotRead, "cannot read the journal \(path): \(SystemFacts.errorText(errno))")
        }
        return try parse(data, path: path)
    }

    /// Parses journal text (exposed for tests).
    public static func parse(_ data: Data, path: String) throws(JournalError) -> JournalContents {
        var lines: [(number: Int, bytes: Data.SubSequence)] = []
        var start = data.startIndex
        var number = 0
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: 10) ?? data.endIndex
            number += 1
            if end > start { lines.append((number, data[start..<end])) }
            start = data.index(after: end)
        }
        let torn = data.last != 10 && !lines.isEmpty

        guard let first = lines.first else {
            throw JournalError(.notAJournal, "\(path) is empty: not a ppdash journal")
        }
        guard let head = object(first.bytes), let version = head[JournalFormat.versionKey]?.int else {
            if torn && lines.count == 1 {
                throw JournalError(
                    .corrupt, "\(path) holds only a torn first line: ppdash was killed as it started; nothing to resume")
            }
            throw JournalError(.notAJournal, "\(path) is not a ppdash journal (its first line is no journal header)")
        }
        if version > JournalFormat.version {
            throw JournalError(
                .newerFormat,
                "\(path) was written by a newer ppdash (journal format \(version); this ppdash reads up to \(JournalFormat.version)): use that ppdash or a newer one"
            )
        }

        var b = Builder(path: path)
        for (i, line) in lines.enumerated() {
            guard let j = object(line.bytes) else {
                let last = i == lines.count - 1
                let beforeResume = !last && isRunHeader(lines[i + 1].bytes)
                if (last && torn) || beforeResume {
                    b.warnings.append(
                        "\(path): line \(line.number) is incomplete (ppdash was killed while writing it); skipped")
                    continue
                }
                throw JournalError(
                    .corrupt,
                    "\(path) is corrupt at line \(line.number) (not a journal line); nothing was changed: move it aside to start afresh"
                )
            }
            let event = JournalEvent(json: j)
            if let v = j[JournalFormat.versionKey] {
                if let v = v.int, v > JournalFormat.version {
                    throw JournalError(
                        .newerFormat,
                        "\(path) was resumed by a newer ppdash (journal format \(v); this ppdash reads up to \(JournalFormat.version))"
                    )
                }
                guard case .header = event else {
                    throw JournalError(
                        .corrupt, "\(path) is corrupt at line \(line.number) (a run header without host or pid)")
                }
            }
            if let event { b.add(event) }
        }
        return b.contents()
    }

    static func object(_ bytes: Data.SubSequence) -> JSONValue? {
        guard bytes.first == UInt8(ascii: "{") else { return nil }
        let v = bytes.withUnsafeBytes { raw in try? JSONValue.parse(raw.bindMemory(to: UInt8.self)) }
        return v?.object != nil ? v : nil
    }

    static func isRunHeader(_ bytes: Data.SubSequence) -> Bool {
        object(bytes)?[JournalFormat.versionKey] != nil
    }

    /// Folds lines into runs and tasks.
    struct Builder {
        let path: String
        var runs: [JournalRun] = []
        var tasks: [JournalTask] = []
        var index: [String: Int] = [:]
        /// Within the current run: task id -> index in `tasks`.
        var local: [Int: Int] = [:]
        /// Within the current run: batch id -> journal-wide batch number.
        var localBatches: [Int: Int] = [:]
        var batchLabels: [String] = []
        var warnings: [String] = []

        init(path: String) { self.path = path }

        mutating func add(_ event: JournalEvent) {
            if case .header(var header) = event {
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
            case .submitted(let e):
                let submitted = runs[run - 1].lastEvent ?? runs[run - 1].header.started
                if let of = e.of, let i = index[of] {
                    local[e.id] = i
                    tasks[i].run = run
                    if !tasks[i].status.isFinished || tasks[i].status.isFailure { tasks[i].status = .pending }
                    return
                }
                let key = JournalFormat.key(run: run, id: e.id)
                if localBatches[e.batch] == nil {
                    batchLabels.append("")
                    localBatches[e.batch] = batchLabels.count
                }
                let batch = localBatches[e.batch]!
                let t = JournalTask(
                    key: key, batch: batch, seq: e.seq, label: batchLabels[batch - 1], command: e.command, args: e.args,
                    status: .pending, engine: nil, host: nil, processGroup: nil, run: run, submitted: submitted,
                    started: nil, completed: nil, retries: 0, outcome: nil)
                index[key] = tasks.count
                local[e.id] = tasks.count
                tasks.append(t)
            case .started(let e):
                guard let i = local[e.id] else { return }
                tasks[i].status = .running
                tasks[i].run = run
                tasks[i].engine = e.engine
                tasks[i].host = e.host
                tasks[i].processGroup = e.processGroup
                tasks[i].started = e.at
                tasks[i].completed = nil
                if let t = e.at { runs[run - 1].lastEvent = t }
            case .completed(let r, _):
                guard let id = Int(r.id), let i = local[id] else { return }
                let status = TaskStatus(name: r.status) ?? .error
                tasks[i].status = status.isFinished ? status : .error
                tasks[i].run = run
                tasks[i].engine = r.engine ?? tasks[i].engine
                tasks[i].host = r.host ?? tasks[i].host
                tasks[i].retries = r.retries
                if let s = r.started { tasks[i].started = s }
                tasks[i].completed = r.completed
                if r.submitted.microseconds != 0, tasks[i].run == 1 { tasks[i].submitted = r.submitted }
                tasks[i].outcome = JournalOutcome(
                    exit: r.exit, signal: r.signal, stdout: r.stdout, stderr: r.stderr, stdoutDropped: r.stdoutDropped,
                    stderrDropped: r.stderrDropped, error: r.error, engineHost: r.host, stdoutBytes: r.stdoutBytes,
                    stderrBytes: r.stderrBytes, stdoutSpool: r.stdoutSpool, stderrSpool: r.stderrSpool)
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

        func contents() -> JournalContents {
            var tasks = self.tasks
            for i in tasks.indices where tasks[i].label.isEmpty && batchLabels.indices.contains(tasks[i].batch - 1) {
                tasks[i].label = batchLabels[tasks[i].batch - 1]
            }
            return JournalContents(path: path, runs: runs, tasks: tasks, batchLabels: batchLabels, warnings: warnings)
        }
    }
}

extension JournalReader {
    /// What `ls` needs, found without building every line's values (`JournalEvent.brief`): the runs (headers and
    /// closing lines) and each task's latest status; lines it does not recognise are skipped.
    public static func skim(_ path: String) throws(JournalError) -> JournalContents {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalError(.cannotRead, "cannot read the journal \(path): \(SystemFacts.errorText(errno))")
        }
        var runs: [JournalRun] = []
        var status: [TaskStatus] = []
        var keys: [String: Int] = [:]
        var local: [Int: Int] = [:]
        var failure: JournalError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            let n = b.count
            var start = 0
            while start < n && failure == nil {
                var end = start
                while end < n && b[end] != 10 { end += 1 }
                defer { start = end + 1 }
                guard end > start, b[start] == 123 else { continue }
                switch JournalEvent.brief(UnsafeBufferPointer(rebasing: b[start..<end])) {
                case .header(var h, let version):
                    if version > JournalFormat.version {
                        failure = JournalError(.newerFormat, "written by a newer ppdash (journal format \(version))")
                        return
                    }
                    h.run = runs.count + 1
                    runs.append(JournalRun(header: h, endReason: nil, endedAt: nil, lastEvent: nil, engines: [:]))
                    local = [:]
                case .end(let reason) where !runs.isEmpty:
                    runs[runs.count - 1].endReason = reason
                case .submitted(let id, let of) where !runs.isEmpty:
                    if let of, let i = keys[of] {
                        local[id] = i
                        if status[i] != .ok { status[i] = .pending }
                    } else {
                        keys[JournalFormat.key(run: runs.count, id: id)] = status.count
                        local[id] = status.count
                        status.append(.pending)
                    }
                case .started(let id) where !runs.isEmpty:
                    if let i = local[id] { status[i] = .running }
                case .completed(let id, let s) where !runs.isEmpty:
                    if let i = local[id] { status[i] = s }
                default:
                    break
                }
            }
        }
        if let failure { throw failure }
        guard !runs.isEmpty else {
            throw JournalError(.notAJournal, "\(path) is not a ppdash journal (its first line is no journal header)")
        }
        let tasks = status.enumerated().map { i, s in
            JournalTask(
                key: String(i + 1), batch: 1, seq: i + 1, label: "", command: "", args: [], status: s, engine: nil,
                host: nil, processGroup: nil, run: 1, submitted: runs[0].header.started, started: nil, completed: nil,
                retries: 0, outcome: nil)
        }
        return JournalContents(path: path, runs: runs, tasks: tasks, batchLabels: [], warnings: [])
    }
}
