// Reads a journal back: its runs, and every task's latest state across them (a resume's tasks count as the originals).
import Foundation
import PPKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
        guard let head = object(first.bytes), let version = intValue(head[JournalFormat.versionKey]) else {
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
            if let v = intValue(j[JournalFormat.versionKey]), v > JournalFormat.version {
                throw JournalError(
                    .newerFormat,
                    "\(path) was resumed by a newer ppdash (journal format \(v); this ppdash reads up to \(JournalFormat.version))"
                )
            }
            try b.add(j, line: line.number)
        }
        return b.contents()
    }

    static func object(_ bytes: Data.SubSequence) -> [String: Any]? {
        guard bytes.first == UInt8(ascii: "{") else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }

    static func isRunHeader(_ bytes: Data.SubSequence) -> Bool {
        guard let j = object(bytes) else { return false }
        return j[JournalFormat.versionKey] != nil
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

        mutating func add(_ j: [String: Any], line: Int) throws(JournalError) {
            if j[JournalFormat.versionKey] != nil {
                guard let h = JournalHeader(j) else {
                    throw JournalError(.corrupt, "\(path) is corrupt at line \(line) (a run header without host or pid)")
                }
                var header = h
                header.run = runs.count + 1
                runs.append(JournalRun(header: header, endReason: nil, endedAt: nil, lastEvent: nil, engines: [:]))
                local = [:]
                localBatches = [:]
                return
            }
            guard !runs.isEmpty else { return }
            let run = runs.count
            let event = j["event"] as? String ?? ""
            switch event {
            case "batch":
                guard let batch = intValue(j["batch"]) else { return }
                batchLabels.append(j["label"] as? String ?? "")
                localBatches[batch] = batchLabels.count
            case "submitted":
                guard let id = intValue(j["id"]) else { return }
                let submitted = runs[run - 1].lastEvent ?? runs[run - 1].header.started
                if let of = j["of"] as? String, let i = index[of] {
                    local[id] = i
                    tasks[i].run = run
                    if !tasks[i].status.isFinished || tasks[i].status.isFailure { tasks[i].status = .pending }
                    return
                }
                let key = JournalFormat.key(run: run, id: id)
                let localBatch = intValue(j["batch"]) ?? 1
                if localBatches[localBatch] == nil {
                    batchLabels.append("")
                    localBatches[localBatch] = batchLabels.count
                }
                let batch = localBatches[localBatch]!
                let t = JournalTask(
                    key: key, batch: batch, seq: intValue(j["seq"]) ?? id, label: batchLabels[batch - 1],
                    command: j["command"] as? String ?? "", args: j["args"] as? [String] ?? [], status: .pending,
                    engine: nil, host: nil, processGroup: nil, run: run, submitted: submitted, started: nil,
                    completed: nil, retries: 0, outcome: nil)
                index[key] = tasks.count
                local[id] = tasks.count
                tasks.append(t)
            case "started":
                guard let id = intValue(j["id"]), let i = local[id] else { return }
                tasks[i].status = .running
                tasks[i].run = run
                tasks[i].engine = intValue(j["engine"])
                tasks[i].host = j["host"] as? String
                tasks[i].processGroup = intValue(j["pgid"]).map { Int32(truncatingIfNeeded: $0) }
                tasks[i].started = (j["at"] as? String).flatMap { Timestamp(iso8601: $0) }
                tasks[i].completed = nil
                if let t = tasks[i].started { runs[run - 1].lastEvent = t }
            case "completed":
                // `id` is the flat record's string msg_id here.
                guard let id = intValue(j["id"]) ?? (j["id"] as? String).flatMap({ Int($0) }), let i = local[id] else {
                    return
                }
                let status = (j["status"] as? String).flatMap(TaskStatus.init(name:)) ?? .error
                tasks[i].status = status.isFinished ? status : .error
                tasks[i].run = run
                tasks[i].engine = intValue(j["engine"]) ?? tasks[i].engine
                tasks[i].host = j["host"] as? String ?? tasks[i].host
                tasks[i].retries = intValue(j["retries"]) ?? tasks[i].retries
                if let s = (j["started"] as? String).flatMap({ Timestamp(iso8601: $0) }) { tasks[i].started = s }
                tasks[i].completed = (j["completed"] as? String).flatMap { Timestamp(iso8601: $0) }
                if let s = (j["submitted"] as? String).flatMap({ Timestamp(iso8601: $0) }), tasks[i].run == 1 {
                    tasks[i].submitted = s
                }
                tasks[i].outcome = JournalOutcome(
                    exit: intValue(j["exit"]).map { Int32(truncatingIfNeeded: $0) },
                    signal: intValue(j["signal"]).map { Int32(truncatingIfNeeded: $0) },
                    stdout: j["stdout"] as? String ?? "", stderr: j["stderr"] as? String ?? "",
                    stdoutDropped: intValue(j["stdout_dropped"]) ?? 0, stderrDropped: intValue(j["stderr_dropped"]) ?? 0,
                    error: j["error"] as? String, engineHost: j["host"] as? String)
                if let c = tasks[i].completed { runs[run - 1].lastEvent = c }
            case "engine":
                guard let id = intValue(j["engine"]) else { return }
                runs[run - 1].engines[id] = JournalEngine(kind: j["kind"] as? String ?? "?", host: j["host"] as? String ?? "?")
            case "end":
                runs[run - 1].endReason = j["reason"] as? String ?? "done"
                runs[run - 1].endedAt = (j["at"] as? String).flatMap { Timestamp(iso8601: $0) }
            default:
                break  // engine_died and lines of later minor versions: nothing to fold
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
    /// What `ls` needs, found without parsing every line as JSON: the runs (headers and closing lines) and each
    /// task's latest status. Relies on the key order this writer uses; lines it does not recognise are skipped.
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
                guard end - start > 12, b[start] == 123 else { continue }
                let line = UnsafeBufferPointer(rebasing: b[start..<end])
                if has(line, at: 2, "ppdash_journal") || has(line, at: 2, "event\":\"end") {
                    guard let j = object(Data(line)[...]) else { continue }  // a torn line
                    if j[JournalFormat.versionKey] != nil {
                        guard var h = JournalHeader(j) else { continue }
                        if let v = intValue(j[JournalFormat.versionKey]), v > JournalFormat.version {
                            failure = JournalError(.newerFormat, "written by a newer ppdash (journal format \(v))")
                            return
                        }
                        h.run = runs.count + 1
                        runs.append(JournalRun(header: h, endReason: nil, endedAt: nil, lastEvent: nil, engines: [:]))
                        local = [:]
                    } else if !runs.isEmpty {
                        runs[runs.count - 1].endReason = j["reason"] as? String ?? "done"
                    }
                    continue
                }
                guard !runs.isEmpty, has(line, at: 2, "event\":\"") else { continue }
                let e = 10  // `{"event":"` is 10 bytes
                if has(line, at: e, "submitted\""), let id = number(line, after: "\"id\":") {
                    if let of = text(line, after: ",\"of\":\""), let i = keys[of] {
                        local[id] = i
                        if status[i] != .ok { status[i] = .pending }
                    } else {
                        keys[JournalFormat.key(run: runs.count, id: id)] = status.count
                        local[id] = status.count
                        status.append(.pending)
                    }
                } else if has(line, at: e, "started\""), let id = number(line, after: "\"id\":"), let i = local[id] {
                    status[i] = .running
                } else if has(line, at: e, "completed\""), let id = number(line, after: "\"id\":\""),
                    let i = local[id], let s = text(line, after: "\"status\":\"").flatMap(TaskStatus.init(name:))
                {
                    status[i] = s
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

    private static func has(_ line: UnsafeBufferPointer<UInt8>, at offset: Int, _ s: StaticString) -> Bool {
        let count = s.utf8CodeUnitCount
        guard line.count >= offset + count else { return false }
        let p = s.utf8Start
        for i in 0..<count where line[offset + i] != p[i] { return false }
        return true
    }

    /// The first index after `marker` in `line`.
    private static func find(_ line: UnsafeBufferPointer<UInt8>, _ marker: StaticString) -> Int? {
        let count = marker.utf8CodeUnitCount
        guard line.count >= count else { return nil }
        let p = marker.utf8Start
        var i = 0
        outer: while i + count <= line.count {
            for k in 0..<count where line[i + k] != p[k] {
                i += 1
                continue outer
            }
            return i + count
        }
        return nil
    }

    private static func number(_ line: UnsafeBufferPointer<UInt8>, after marker: StaticString) -> Int? {
        guard var i = find(line, marker) else { return nil }
        var v = 0
        var digits = 0
        while i < line.count, line[i] >= 48, line[i] <= 57 {
            v = v * 10 + Int(line[i] - 48)
            i += 1
            digits += 1
        }
        return digits > 0 ? v : nil
    }

    /// A plain string value (no escapes) after `marker`.
    private static func text(_ line: UnsafeBufferPointer<UInt8>, after marker: StaticString) -> String? {
        guard let s = find(line, marker) else { return nil }
        var i = s
        while i < line.count, line[i] != 34, line[i] != 92 { i += 1 }
        guard i < line.count, line[i] == 34 else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: line[s..<i]), as: UTF8.self)
    }
}
