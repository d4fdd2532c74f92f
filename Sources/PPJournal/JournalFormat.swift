// The journal's format: JSON Lines, a header line per run (the first run, then one per resume), one line per event.
import Foundation
import PPKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Constants and names of the journal format.
public enum JournalFormat {
    /// The format version this ppdash writes and the newest it reads.
    public static let version = 1
    /// The header key holding the format version (also what marks a file as a journal).
    public static let versionKey = "ppdash_journal"
    /// The file name suffix of journals; the socket adds `.sock`.
    public static let suffix = ".jsonl"

    /// Where journals go by default: `$XDG_STATE_HOME/ppdash`, else `~/.local/state/ppdash`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/ppdash" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/ppdash"
    }

    /// A journal's file name: start time (local), host and pid, e.g. `20261129-101220-login1-4711.jsonl`.
    public static func fileName(started: Timestamp, host: String, pid: Int32) -> String {
        var t = time_t(started.microseconds / 1_000_000)
        var parts = tm()
        localtime_r(&t, &parts)
        func p(_ v: Int32, _ w: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        let stamp =
            p(parts.tm_year + 1900, 4) + p(parts.tm_mon + 1) + p(parts.tm_mday) + "-" + p(parts.tm_hour)
            + p(parts.tm_min) + p(parts.tm_sec)
        let safeHost = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }.prefix(40))
        return "\(stamp)-\(safeHost)-\(pid)\(suffix)"
    }

    /// The state socket of a journal: next to it, unless that path is too long for a Unix socket.
    public static func socketPath(forJournal journal: String) -> String {
        let beside = journal + ".sock"
        if beside.utf8.count < UnixSocket.maxPathLength { return beside }
        let dir = NSTemporaryDirectory() + "/ppdash-\(geteuid())"
        let name = URL(fileURLWithPath: journal).lastPathComponent
        return dir + "/" + String(name.suffix(60)) + ".sock"
    }

    /// A task's key within the journal: its id in the first run, `RUN.ID` in later runs (resumes).
    public static func key(run: Int, id: Int) -> String { run <= 1 ? String(id) : "\(run).\(id)" }
}

/// Why a journal cannot be used: one clear line each.
public struct JournalError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case cannotRead, notAJournal, newerFormat, corrupt, otherUser, exists, inUse, cannotWrite
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

extension Timestamp {
    /// Parses the ISO 8601 form `iso8601` writes (`2026-11-29T10:12:20.123456Z`; fewer fraction digits too).
    public init?(iso8601 s: String) {
        let b = Array(s.utf8)
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b.last == 90 else {
            return nil
        }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
            let se = num(17..<19)
        else { return nil }
        var micros = 0
        if b[19] == 46 {
            let digits = b.count - 1 - 20
            guard digits >= 1, digits <= 9, let f = num(20..<(b.count - 1)) else { return nil }
            var scaled = f
            if digits < 6 {
                for _ in digits..<6 { scaled *= 10 }
            } else {
                for _ in 6..<digits { scaled /= 10 }
            }
            micros = scaled
        } else if b.count != 20 {
            return nil
        }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let secs = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + se)
        self.init(microseconds: secs * 1_000_000 + Int64(micros))
    }
}

/// What the first line of a journal (and each resume's line) says about the run.
public struct JournalHeader: Sendable, Hashable {
    /// `run`, `demo`, `dashboard` or `resume`.
    public var kind: String
    /// 1 for the first run, 2... for each resume appended to it.
    public var run: Int
    public var ppdashVersion: String
    public var host: String
    public var pid: Int32
    public var user: String
    public var uid: UInt32
    public var started: Timestamp
    public var workingDirectory: String
    public var commandLine: [String]
    public var engines: [String]
    /// The template of `ppdash run` (nil for the dashboard and the demo).
    public var template: String?
    /// The argument groups of `ppdash run` (`::: A B ::: C`), or stdin's lines as one group.
    public var arguments: [[String]]?
    /// Where the state socket listens, if it does.
    public var socket: String?

    /// A header for this process, now.
    public init(
        kind: String, run: Int = 1, ppdashVersion: String, commandLine: [String] = CommandLine.arguments,
        engines: [String], template: String? = nil, arguments: [[String]]? = nil, socket: String? = nil,
        started: Timestamp = SystemClock().now()
    ) {
        self.kind = kind
        self.run = run
        self.ppdashVersion = ppdashVersion
        self.host = SystemFacts.hostName
        self.pid = SystemFacts.pid
        self.user = SystemFacts.userName
        self.uid = SystemFacts.uid
        self.started = started
        self.workingDirectory = FileManager.default.currentDirectoryPath
        self.commandLine = commandLine
        self.engines = engines
        self.template = template
        self.arguments = arguments
        self.socket = socket
    }

    /// The header as one JSON line (no newline).
    public func jsonLine() -> String {
        var o = JSONObjectWriter()
        o.add(JournalFormat.versionKey, JournalFormat.version)
        o.add("event", run <= 1 ? "start" : "resume")
        o.add("run", run)
        o.add("kind", kind)
        o.add("ppdash", ppdashVersion)
        o.add("host", host)
        o.add("pid", Int(pid))
        o.add("user", user)
        o.add("uid", Int(uid))
        o.add("started", started.iso8601)
        o.add("cwd", workingDirectory)
        o.add("command", commandLine)
        o.add("engines", engines)
        o.add("template", template)
        if let arguments {
            var raw = "["
            for (i, g) in arguments.enumerated() {
                if i > 0 { raw += "," }
                var inner = JSONObjectWriter()
                inner.add("g", g)
                let text = inner.finish()
                raw += text.dropFirst(5).dropLast()  // `{"g":[...]}` -> `[...]`
            }
            o.addRaw("args", raw + "]")
        } else {
            o.addRaw("args", "null")
        }
        o.add("socket", socket)
        return o.finish()
    }

    /// Reads a header back from a parsed line; nil when required fields are missing.
    init?(_ j: [String: Any]) {
        guard let host = j["host"] as? String, let pid = intValue(j["pid"]) else { return nil }
        kind = j["kind"] as? String ?? "run"
        run = intValue(j["run"]) ?? 1
        ppdashVersion = j["ppdash"] as? String ?? "?"
        self.host = host
        self.pid = Int32(truncatingIfNeeded: pid)
        user = j["user"] as? String ?? "?"
        uid = UInt32(truncatingIfNeeded: intValue(j["uid"]) ?? -1)
        started = (j["started"] as? String).flatMap { Timestamp(iso8601: $0) } ?? Timestamp(microseconds: 0)
        workingDirectory = j["cwd"] as? String ?? ""
        commandLine = j["command"] as? [String] ?? []
        engines = j["engines"] as? [String] ?? []
        template = j["template"] as? String
        arguments = j["args"] as? [[String]]
        socket = j["socket"] as? String
    }
}

/// An Int from a parsed JSON number.
func intValue(_ v: Any?) -> Int? {
    if let i = v as? Int { return i }
    if let d = v as? Double, d == d.rounded(), abs(d) < 9e15 { return Int(d) }
    if let n = v as? NSNumber { return n.intValue }
    return nil
}
