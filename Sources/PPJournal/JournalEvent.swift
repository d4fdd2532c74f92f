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
    /// A task finished: its `--json` record, and for a resume the key of the task it ran again.
    case completed(FlatTaskRecord, of: String?)
    case engineDied(engine: Int, reason: String)
    /// The run's closing line.
    case end(End)

    public struct Submitted: Sendable, Hashable {
        public var id: Int
        public var batch: Int
        public var seq: Int
        public var command: String
        public var args: [String]
        /// For a resume: the key of the task this one runs again.
        public var of: String?
    }

    public struct Started: Sendable, Hashable {
        public var id: Int
        public var engine: Int?
        public var host: String?
        /// The task's process group, so a resume can find an orphan.
        public var processGroup: Int32?
        public var at: Timestamp?
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
                o.add("cwd", h.workingDirectory)
                o.add("command", h.commandLine)
                o.add("engines", h.engines)
                o.add("template", h.template)
                o.add("args", h.arguments)
                o.add("socket", h.socket)
            case .engine(let id, let kind, let host):
                o.add("event", "engine")
                o.add("engine", id)
                o.add("kind", kind)
                o.add("host", host)
            case .batch(let id, let label):
                o.add("event", "batch")
                o.add("batch", id)
                o.add("label", label)
            case .submitted(let s):
                o.add("event", "submitted")
                o.add("id", s.id)
                o.add("batch", s.batch)
                o.add("seq", s.seq)
                o.add("command", s.command)
                o.add("args", s.args)
                if let of = s.of { o.add("of", of) }
            case .started(let s):
                o.add("event", "started")
                o.add("id", s.id)
                o.add("engine", s.engine)
                o.add("host", s.host)
                o.add("pgid", s.processGroup.map(Int.init))
                o.add("at", iso8601: s.at?.microseconds)
            case .completed(let r, let of):
                o.add("event", "completed")
                r.write(to: &o)
                if let of { o.add("of", of) }
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
    /// without the keys its event needs (a header without host or pid).
    public init?(json j: JSONValue) {
        if j[JournalFormat.versionKey] != nil {
            guard let h = JournalHeader(json: j) else { return nil }
            self = .header(h)
            return
        }
        func time(_ k: String) -> Timestamp? { j[k]?.string.flatMap { Timestamp(iso8601: $0) } }
        switch j["event"]?.string ?? "" {
        case "engine":
            guard let id = j["engine"]?.int else { return nil }
            self = .engine(id: id, kind: j["kind"]?.string ?? "?", host: j["host"]?.string ?? "?")
        case "batch":
            guard let id = j["batch"]?.int else { return nil }
            self = .batch(id: id, label: j["label"]?.string ?? "")
        case "submitted":
            guard let id = j["id"]?.int else { return nil }
            self = .submitted(
                Submitted(
                    id: id, batch: j["batch"]?.int ?? 1, seq: j["seq"]?.int ?? id, command: j["command"]?.string ?? "",
                    args: j["args"]?.array?.compactMap(\.string) ?? [], of: j["of"]?.string))
        case "started":
            guard let id = j["id"]?.int else { return nil }
            self = .started(
                Started(
                    id: id, engine: j["engine"]?.int, host: j["host"]?.string,
                    processGroup: j["pgid"]?.int.map { Int32(truncatingIfNeeded: $0) }, at: time("at")))
        case "completed":
            guard let r = FlatTaskRecord(json: j) else { return nil }
            self = .completed(r, of: j["of"]?.string)
        case "engine_died":
            guard let engine = j["engine"]?.int else { return nil }
            self = .engineDied(engine: engine, reason: j["reason"]?.string ?? "")
        case "end":
            var t = StatusCounts()
            for s in TaskStatus.allCases { t[s] = j[s.description]?.int ?? 0 }
            self = .end(End(reason: j["reason"]?.string ?? "done", at: time("at"), totals: t))
        default:
            return nil
        }
    }

    /// What `ls` needs of a line, read without building the values it does not need (stdout, stderr...).
    public enum Brief: Sendable, Hashable {
        case header(JournalHeader, version: Int)
        case end(reason: String)
        case submitted(id: Int, of: String?)
        case started(id: Int)
        case completed(id: Int, status: TaskStatus)
    }

    /// The brief of one line; nil for lines `ls` does not count (engines, batches, torn or foreign lines).
    public static func brief(_ line: UnsafeBufferPointer<UInt8>) -> Brief? {
        guard var scan = try? JSONObjectScanner(line) else { return nil }
        var event = ""
        var id: Int?
        var of: String?
        var status: TaskStatus?
        while let key = try? scan.next() {
            if JSONObjectScanner.key(key, is: "ppdash_journal") {
                // A header (rare): read it whole.
                guard let j = try? JSONValue.parse(line), let h = JournalHeader(json: j) else { return nil }
                return .header(h, version: j[JournalFormat.versionKey]?.int ?? 0)
            }
            if JSONObjectScanner.key(key, is: "event") {
                guard let e = (try? scan.value())?.string else { return nil }
                event = e
                if e == "end" {
                    guard let j = try? JSONValue.parse(line) else { return nil }
                    return .end(reason: j["reason"]?.string ?? "done")
                }
                guard e == "submitted" || e == "started" || e == "completed" else { return nil }
            } else if JSONObjectScanner.key(key, is: "id") {
                guard let v = try? scan.value() else { return nil }
                id = v.int ?? v.string.flatMap { Int($0) }
            } else if JSONObjectScanner.key(key, is: "status") {
                status = (try? scan.value())?.string.flatMap(TaskStatus.init(name:))
            } else if JSONObjectScanner.key(key, is: "of") {
                of = (try? scan.value())?.string
            }
            switch event {
            case "started": if let id { return .started(id: id) }
            case "completed": if let id, let status { return .completed(id: id, status: status) }
            default: break
            }
        }
        if event == "submitted", let id { return .submitted(id: id, of: of) }
        return nil
    }
}

extension JournalHeader {
    /// Reads a header back from a parsed line; nil when required fields are missing.
    init?(json j: JSONValue) {
        guard let host = j["host"]?.string, let pid = j["pid"]?.int else { return nil }
        self.init(
            kind: j["kind"]?.string ?? "run", run: j["run"]?.int ?? 1, ppdashVersion: j["ppdash"]?.string ?? "?",
            commandLine: j["command"]?.array?.compactMap(\.string) ?? [],
            engines: j["engines"]?.array?.compactMap(\.string) ?? [], template: j["template"]?.string,
            arguments: j["args"]?.array.map { $0.map { $0.array?.compactMap(\.string) ?? [] } },
            socket: j["socket"]?.string,
            started: j["started"]?.string.flatMap { Timestamp(iso8601: $0) } ?? Timestamp(microseconds: 0))
        self.host = host
        self.pid = Int32(truncatingIfNeeded: pid)
        user = j["user"]?.string ?? "?"
        uid = UInt32(truncatingIfNeeded: j["uid"]?.int ?? -1)
        workingDirectory = j["cwd"]?.string ?? ""
    }

    /// The header as one JSON line (no newline).
    public func jsonLine() -> String { JournalEvent.header(self).line }
}
