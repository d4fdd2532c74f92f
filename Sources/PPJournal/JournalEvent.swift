// Every line of a journal as a typed event: the one encoder (`write(to:)`) and decoder (`init?(json:)`) of the format.
import PPJSON
import PPKit

/// One journal line. The key order `write` uses is part of the format (scripts read it; `brief` stops early).
public enum JournalEvent: Sendable, Hashable {
    /// A run's first line: `start` for the first run, `resume` for each appended one.
    case header(JournalHeader)
    /// An engine joined (or was there when the journal opened).
    case engine(id: Int, kind: String, host: String)
    /// A batch began; its label is the template, for shell sweeps.
    case batch(id: Int, label: String)
    case submitted(Submitted)
    case started(Started)
    /// A task finished: its `--json` record, and for a resume the key of the task it ran again (`of`, journals
    /// before attempts were recorded) or the attempt (a resumed task keeps its id and seq).
    case completed(FlatTaskRecord, of: String?, attempt: Int? = nil)
    case engineDied(engine: Int, reason: String)
    /// The run's closing line.
    case end(End)

    public struct Submitted: Sendable, Hashable {
        public var id: Int
        public var batch: Int
        public var seq: Int
        public var command: String
        public var args: [String]
        /// For a resume: the key of the task this one runs again (written before attempts were recorded, and for a
        /// task first submitted in a resume).
        public var of: String?
        /// For a resumed task (which keeps its first run's id and seq): 2 for its second run, and so on.
        public var attempt: Int? = nil
        /// Format 2: the line stands for tasks `id...to` (seqs `seq...`), each with this command and no arguments.
        public var to: Int? = nil

        /// The tasks the line stands for (one, or a range).
        public var count: Int { (to ?? id) - id + 1 }
    }

    public struct Started: Sendable, Hashable {
        public var id: Int
        public var engine: Int?
        public var host: String?
        /// The task's process group, so a resume can find an orphan.
        public var processGroup: Int32?
        public var at: Timestamp?
        /// As in `Submitted`: set for a resumed task, whose `id` is its first run's.
        public var attempt: Int? = nil
    }

    public struct End: Sendable, Hashable {
        public var reason: String
        public var at: Timestamp?
        public var totals: StatusCounts
    }

    /// Appends the event's line (without the newline) to `out`; allocates nothing when `out` has room.
    public func write(to out: inout [UInt8]) {
        JSONObjectWriter.append(to: &out) { o in
            switch self {
            case .header(let h):
                o.add(JournalFormat.versionKey, JournalFormat.version)
                o.add("event", h.run <= 1 ? "start" : "resume")
                o.add("run", h.run)
                o.add("kind", h.kind)
                o.add("ppdash", h.ppdashVersion)
                o.add("host", h.host)
                o.add("pid", Int(h.pid))
                o.add("user", h.user)
                o.add("uid", Int(h.uid))
                o.add("started", iso8601: h.started.microseconds)
                o.addBytes("cwd", h.workingDirectory)  // addBytes: KEY_base64 beside text that is not UTF-8
                o.addBytes("command", h.commandLine)
                o.add("engines", h.engines)
                o.addBytes("template", h.template)
                // A range stays a range: {"range":[from,to]} (older ppdash wrote every value).
                if let groups = h.arguments { o.addBytes("args", JournalHeader.json(groups)) } else { o.add("args", nil as [[String]]?) }
                o.add("socket", h.socket)
                if let settings = h.settings { o.addBytes("options", settings.json) }
                if let marker = h.marker { o.add("marker", marker) }
            case .engine(let id, let kind, let host):
                o.add("event", "engine")
                o.add("engine", id)
                o.add("kind", kind)
                o.add("host", host)
            case .batch(let id, let label):
                o.add("event", "batch")
                o.add("batch", id)
                o.addBytes("label", label)
            case .submitted(let s):
                o.add("event", "submitted")
                o.add("id", s.id)
                o.add("batch", s.batch)
                if let to = s.to { o.add("to", to) }
                o.add("seq", s.seq)
                o.addBytes("command", s.command)
                if s.to == nil { o.addBytes("args", s.args) }
                if let of = s.of { o.add("of", of) }
                if let a = s.attempt { o.add("attempt", a) }
            case .started(let s):
                o.add("event", "started")
                o.add("id", s.id)
                o.add("engine", s.engine)
                o.add("host", s.host)
                o.add("pgid", s.processGroup.map(Int.init))
                o.add("at", iso8601: s.at?.microseconds)
                if let a = s.attempt { o.add("attempt", a) }
            case .completed(let r, let of, let attempt):
                JournalEvent.writeCompleted(r, of: of, attempt: attempt, to: &o)
            case .engineDied(let engine, let reason):
                o.add("event", "engine_died")
                o.add("engine", engine)
                o.add("reason", reason)
            case .end(let e):
                o.add("event", "end")
                o.add("reason", e.reason)
                o.add("at", iso8601: e.at?.microseconds)
                o.add("total", e.totals.total)
                o.add("ok", e.totals.ok)
                o.add("error", e.totals.error)
                o.add("timeout", e.totals.timeout)
                o.add("aborted", e.totals.aborted)
                o.add("pending", e.totals.pending)
                o.add("running", e.totals.running)
            }
        }
    }

    /// The line as text (no newline).
    public var line: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads a parsed line; nil for an event this ppdash does not fold (a later minor version's) or a line
    /// that is not a valid event (see `decode`).
    public init?(json j: JSONValue) {
        guard let e = try? JournalEvent.decode(j) else { return nil }
        self = e
    }

    /// Why a line is refused: a field missing, of the wrong type or out of range.
    public struct LineProblem: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    /// Bounds of the numbers a journal line may hold (anything else is a damaged line, never a trap).
    static let maxID = 1 << 48
    /// The most tasks one `submitted` line may stand for (format 2's ranges; the writer makes at most this many).
    public static let maxRange = 65536

    /// A `completed` line, format 2: the task's id, command and arguments (a script needs no other line to know
    /// which task it was) and how it ended; its seq and batch are its `submitted` line's, the host is left out when it
    /// is the engine's (its `engine` line names it); times are microseconds since the epoch; keys with nothing to say
    /// (null, 0, "", []) are left out. Fields another part adds to `FlatTaskRecord` belong here too, each left out when
    /// it says nothing.
    static func writeCompleted(_ r: FlatTaskRecord, of: String?, attempt: Int?, to o: inout JSONObjectWriter) {
        // Keys as literals (no escaping scan): this is the line written once per task.
        o.key(literal: "event")
        JSONBytes.appendLiteral("\"completed\"", to: &o.bytes)
        if let id = Int(r.id) { o.add(literal: "id", id) } else { o.add(literal: "id", r.id) }
        if let of { o.add(literal: "of", of) }
        if let attempt { o.add(literal: "attempt", attempt) }
        o.addBytes("command", r.command)
        if !r.args.isEmpty { o.addBytes("args", r.args) }
        if let e = r.engine { o.add(literal: "engine", e) }
        if let h = r.host { o.add(literal: "host", h) }
        o.add(literal: "status", r.status)
        if let e = r.exit { o.add(literal: "exit", Int(e)) }
        if let s = r.signal { o.add(literal: "signal", Int(s)) }
        o.add(literal: "submitted_us", Int(r.submitted.microseconds))
        if let t = r.started { o.add(literal: "started_us", Int(t.microseconds)) }
        if let t = r.completed { o.add(literal: "completed_us", Int(t.microseconds)) }
        if r.retries != 0 { o.add(literal: "retries", r.retries) }
        if !r.stdout.isEmpty { o.add("stdout", r.stdout) }
        if !r.stderr.isEmpty { o.add("stderr", r.stderr) }
        if r.stdoutDropped != 0 { o.add("stdout_dropped", r.stdoutDropped) }
        if r.stderrDropped != 0 { o.add("stderr_dropped", r.stderrDropped) }
        if let b = r.stdoutBytes { o.add("stdout_base64", Base64.encode(b)) }
        if let b = r.stderrBytes { o.add("stderr_base64", Base64.encode(b)) }
        if let p = r.stdoutSpool { o.add("stdout_spool", p) }
        if let p = r.stderrSpool { o.add("stderr_spool", p) }
        if r.stdoutCut != 0 { o.add("stdout_cut", r.stdoutCut) }
        if r.stderrCut != 0 { o.add("stderr_cut", r.stderrCut) }
        if let e = r.error { o.add("error", e) }
        // A shell task's resource use (`ppdash run`'s meters), as `FlatTaskRecord` writes it; `max_rss` left out when
        // unknown.
        if let u = r.cpuUser, let s = r.cpuSystem {
            o.add("cpu_user", u)
            o.add("cpu_system", s)
            if let m = r.maxRSS { o.add("max_rss", Int(m)) }
        }
    }

    /// Reads a parsed line, checking every field it uses; nil for an event this ppdash does not fold (a later
    /// minor version's), a thrown problem for a line that is damaged.
    public static func decode(_ j: JSONValue) throws(LineProblem) -> JournalEvent? {
        guard j.object != nil else { throw LineProblem("not a JSON object") }
        if j[JournalFormat.versionKey] != nil {
            return .header(try JournalHeader.decode(j))
        }
        let f = Fields(j)
        guard let event = j["event"] else { throw LineProblem("no \"event\"") }
        guard let name = event.string else { throw LineProblem("\"event\" is not a string") }
        switch name {
        case "engine":
            return .engine(
                id: try f.int("engine", 0...Int(Int32.max))!, kind: try f.string("kind") ?? "?",
                host: try f.string("host") ?? "?")
        case "batch":
            return .batch(id: try f.int("batch", 1...maxID)!, label: try f.bytesText("label") ?? "")
        case "submitted":
            let id = try f.int("id", 1...maxID)!
            let to = try f.int("to", id...min(maxID, id + maxRange - 1), optional: true)
            let seq = try f.int("seq", 0...maxID, optional: true) ?? id
            if let to, seq + (to - id) > maxID { throw LineProblem("\"to\" is out of range (\(to))") }
            let line = Submitted(
                id: id, batch: try f.int("batch", 1...maxID, optional: true) ?? 1,
                seq: seq, command: try f.bytesText("command") ?? "",
                args: try f.bytesTexts("args"), of: try f.string("of"),
                attempt: try f.int("attempt", 1...Int(Int32.max), optional: true), to: to)
            if to != nil && (line.of != nil || line.attempt != nil || !line.args.isEmpty) {
                throw LineProblem("a range of tasks with \"of\", \"attempt\" or \"args\"")
            }
            return .submitted(line)
        case "started":
            return .started(
                Started(
                    id: try f.int("id", 1...maxID)!, engine: try f.int("engine", 0...Int(Int32.max), optional: true),
                    host: try f.string("host"),
                    processGroup: try f.int("pgid", 0...Int(Int32.max), optional: true).map { Int32($0) },
                    at: try f.time("at"), attempt: try f.int("attempt", 1...Int(Int32.max), optional: true)))
        case "completed":
            guard let idValue = j["id"] else { throw LineProblem("no \"id\"") }
            guard let id = idValue.int ?? idValue.string.flatMap({ Int($0) }), (1...maxID).contains(id) else {
                throw LineProblem("\"id\" is not a task id")
            }
            _ = id
            _ = try f.int("seq", 0...maxID, optional: true)
            _ = try f.int("batch", 1...maxID, optional: true)
            _ = try f.int("engine", 0...Int(Int32.max), optional: true)
            _ = try f.int("exit", Int(Int32.min)...Int(Int32.max), optional: true)
            _ = try f.int("signal", 0...255, optional: true)
            _ = try f.int("retries", 0...Int(Int32.max), optional: true)
            _ = try f.int("stdout_dropped", 0...Int.max / 2, optional: true)
            _ = try f.int("stderr_dropped", 0...Int.max / 2, optional: true)
            _ = try f.int("stdout_cut", 0...Int.max / 2, optional: true)
            _ = try f.int("stderr_cut", 0...Int.max / 2, optional: true)
            _ = try f.strings("args")
            for k in ["command", "host", "stdout", "stderr", "error"] { _ = try f.string(k) }
            for k in ["submitted", "started", "completed"] { _ = try f.time(k) }
            if let d = j["duration"], d != .null, d.double?.isFinite != true { throw LineProblem("\"duration\" is not a number") }
            guard let status = try f.string("status"), TaskStatus(name: status) != nil else {
                throw LineProblem("\"status\" is no task status")
            }
            guard var r = FlatTaskRecord(json: j) else { throw LineProblem("not a task record") }
            // Format 2: times as microseconds since the epoch (format 1: ISO 8601 text, read above).
            let us = 0...Int(Int64.max / 2)
            if let t = try f.int("submitted_us", us, optional: true) { r.submitted = Timestamp(microseconds: Int64(t)) }
            if let t = try f.int("started_us", us, optional: true) { r.started = Timestamp(microseconds: Int64(t)) }
            if let t = try f.int("completed_us", us, optional: true) { r.completed = Timestamp(microseconds: Int64(t)) }
            if r.duration == nil, let a = r.started, let b = r.completed { r.duration = a.seconds(to: b) }
            return .completed(r, of: try f.string("of"), attempt: try f.int("attempt", 1...Int(Int32.max), optional: true))
        case "engine_died":
            return .engineDied(engine: try f.int("engine", 0...Int(Int32.max))!, reason: try f.string("reason") ?? "")
        case "end":
            var t = StatusCounts()
            for s in TaskStatus.allCases { t[s] = try f.int(s.description, 0...maxID, optional: true) ?? 0 }
            return .end(End(reason: try f.string("reason") ?? "done", at: try f.time("at"), totals: t))
        default:
            return nil
        }
    }

    /// Typed, bounded access to a line's fields.
    struct Fields {
        let j: JSONValue
        init(_ j: JSONValue) { self.j = j }

        /// An integer in `range`; nil when absent or null and `optional`, else a problem.
        func int(_ k: String, _ range: ClosedRange<Int>, optional: Bool = false) throws(LineProblem) -> Int? {
            guard let v = j[k], v != .null else {
                if optional { return nil }
                throw LineProblem("no \"\(k)\"")
            }
            guard let i = v.int else { throw LineProblem("\"\(k)\" is not an integer") }
            guard range.contains(i) else { throw LineProblem("\"\(k)\" is out of range (\(i))") }
            return i
        }
        func string(_ k: String) throws(LineProblem) -> String? {
            guard let v = j[k], v != .null else { return nil }
            guard let s = v.string else { throw LineProblem("\"\(k)\" is not a string") }
            return s
        }
        func strings(_ k: String) throws(LineProblem) -> [String] {
            guard let v = j[k], v != .null else { return [] }
            guard let a = v.array else { throw LineProblem("\"\(k)\" is not a list") }
            var out = [String]()
            out.reserveCapacity(a.count)
            for e in a {
                guard let s = e.string else { throw LineProblem("\"\(k)\" holds a value that is not a string") }
                out.append(s)
            }
            return out
        }
        /// A string written with `addBytes`: exact from `KEY_base64` when there.
        func bytesText(_ k: String) throws(LineProblem) -> String? {
            let s = try string(k)
            return j[k + "_base64"] == nil ? s : j.bytesText(k)
        }
        /// A list written with `addBytes`: exact from `KEY_base64` when there.
        func bytesTexts(_ k: String) throws(LineProblem) -> [String] {
            let s = try strings(k)
            return j[k + "_base64"] == nil ? s : j.bytesTexts(k) ?? s
        }
        func time(_ k: String) throws(LineProblem) -> Timestamp? {
            guard let s = try string(k) else { return nil }
            guard let t = Timestamp(iso8601: s) else { throw LineProblem("\"\(k)\" is not a time") }
            return t
        }
    }
}

extension JournalHeader {
    /// The argument groups as the header records them: values as text, a range as `{"range":[from,to]}`.
    static func json(_ groups: [ArgGroup]) -> JSONValue {
        .array(
            groups.map { g in
                .array(
                    g.items.flatMap { item -> [JSONValue] in
                        switch item {
                        case .values(let v): return v.map { .string($0) }
                        case .range(let a, let b): return [.object(["range": .array([.integer(Int64(a)), .integer(Int64(b))])])]
                        }
                    })
            })
    }

    /// Reads a header back from a parsed line; nil when required fields are missing or wrong.
    init?(json j: JSONValue) {
        guard let h = try? JournalHeader.decode(j) else { return nil }
        self = h
    }

    /// Reads a header back, checking its fields (host and pid are required).
    static func decode(_ j: JSONValue) throws(JournalEvent.LineProblem) -> JournalHeader {
        let f = JournalEvent.Fields(j)
        guard try f.int(JournalFormat.versionKey, 0...Int(Int32.max)) != nil else {
            throw JournalEvent.LineProblem("no format version")
        }
        guard let host = try f.string("host") else { throw JournalEvent.LineProblem("a run header without host") }
        guard let pid = try f.int("pid", 0...Int(Int32.max), optional: true) else {
            throw JournalEvent.LineProblem("a run header without pid")
        }
        var groups: [ArgGroup]?
        if let a = j.bytesValue("args"), a != .null {  // exact from args_base64 where a byte is not UTF-8
            guard let outer = a.array else { throw JournalEvent.LineProblem("\"args\" is not a list") }
            var gs = [ArgGroup]()
            gs.reserveCapacity(outer.count)
            for g in outer {
                guard let inner = g.array else { throw JournalEvent.LineProblem("\"args\" holds a group that is not a list") }
                var group = ArgGroup()
                for v in inner {
                    if let text = v.string {
                        group.append(text)
                    } else if let r = v["range"]?.array, r.count == 2, let a = r[0].int, let b = r[1].int {
                        do { try group.appendRange(a, b) } catch { throw JournalEvent.LineProblem("\"args\" holds a range too large") }
                    } else {
                        throw JournalEvent.LineProblem("\"args\" holds a value that is neither text nor a range")
                    }
                }
                gs.append(group)
            }
            groups = gs
        }
        var settings: RunSettings?
        if let o = j.bytesValue("options"), o != .null {
            guard let s = RunSettings(json: o) else { throw JournalEvent.LineProblem("\"options\" is damaged") }
            settings = s
        }
        var h = JournalHeader(
            kind: try f.string("kind") ?? "run", run: try f.int("run", 1...Int(Int32.max), optional: true) ?? 1,
            ppdashVersion: try f.string("ppdash") ?? "?", commandLine: try f.bytesTexts("command"),
            engines: try f.strings("engines"), template: try f.bytesText("template"), arguments: groups,
            socket: try f.string("socket"), started: try f.time("started") ?? Timestamp(microseconds: 0))
        h.host = host
        h.pid = Int32(pid)
        h.user = try f.string("user") ?? "?"
        h.uid = UInt32(try f.int("uid", 0...Int(UInt32.max), optional: true) ?? Int(UInt32.max))
        h.workingDirectory = try f.bytesText("cwd") ?? ""
        h.settings = settings
        h.marker = try f.string("marker")
        return h
    }

    /// The header as one JSON line (no newline).
    public func jsonLine() -> String { JournalEvent.header(self).line }
}
