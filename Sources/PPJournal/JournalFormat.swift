// The journal's format: JSON Lines, a header line per run (the first run, then one per resume), one line per event.
import Foundation
import Glibc
import PPAttach
import PPJSON
import PPKit

/// Constants and names of the journal format.
public enum JournalFormat {
    /// The format version this ppdash writes and the newest it reads. It reads every older one too: 2 adds ranges of
    /// `submitted` tasks (`"to"`) and compact `completed` lines (see `JournalEvent.writeCompleted`); a resume of a
    /// format-1 journal appends format-2 runs to it, each run's header saying its own format.
    public static let version = 2
    /// Bytes of each stream a `completed` line keeps at most (head and tail halves): a longer stream's line says how
    /// many it left out (`stdout_cut`, counted in `stdout_dropped` too) and names its spool file, which has it whole
    /// (a run's spool starts at this size, `ShellLimits.spoolFrom`). Additive: older readers see a cut stream.
    public static let outputKept = ShellLimits.defaultSpoolFrom
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

    /// Names tried (suffixes -2, -3...) before a run gives up finding a free one.
    public static let maxNameAttempts = 100

    /// A journal's file name: start time (local), host and pid, e.g. `20261129-101220-login1-4711.jsonl`; from the
    /// second `attempt` on, a suffix (`...-4711-2.jsonl`): the name is taken (a reused pid in the same second).
    public static func fileName(started: Timestamp, host: String, pid: Int32, attempt: Int = 1) -> String {
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
        return "\(stamp)-\(safeHost)-\(pid)\(attempt > 1 ? "-\(attempt)" : "")\(suffix)"
    }

    /// Registers a journal written outside `directory` there (a symlink under a unique name), so `ls` and `attach
    /// latest` find it. Nothing is done for a journal already in `directory`.
    public static func register(_ journal: String, in directory: String, started: Timestamp) throws(JournalError) {
        if (journal as NSString).deletingLastPathComponent == (directory as NSString).standardizingPath { return }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw JournalError(.cannotWrite, "cannot register the journal in \(directory): \(describe(error))")
        }
        for attempt in 1...maxNameAttempts {
            let link = directory + "/" + fileName(started: started, host: SystemFacts.hostName, pid: SystemFacts.pid, attempt: attempt)
            if symlink(journal, link) == 0 { return }
            let e = errno
            if e != EEXIST {
                throw JournalError(.cannotWrite, "cannot register the journal in \(directory): \(SystemFacts.errorText(e))")
            }
        }
        throw JournalError(.cannotWrite, "cannot register the journal in \(directory): no free name")
    }

    /// The spool directory of a journal (task output beyond the in-memory bound): `X.spool/` beside `X.jsonl`.
    public static func spoolPath(forJournal journal: String) -> String {
        (journal.hasSuffix(suffix) ? String(journal.dropLast(suffix.count)) : journal) + ".spool"
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
    public var arguments: [ArgGroup]?
    /// Where the state socket listens, if it does.
    public var socket: String?
    /// The options a resume reuses (nil in journals written before they were recorded).
    public var settings: RunSettings?
    /// The run's marker (`PPDASH_RUN` in the environment of everything it started here), nil in older journals.
    public var marker: String?

    /// A header for this process, now.
    public init(
        kind: String, run: Int = 1, ppdashVersion: String, commandLine: [String] = ByteText.commandLine,
        engines: [String], template: String? = nil, arguments: [ArgGroup]? = nil, socket: String? = nil,
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
        self.workingDirectory = SystemFacts.currentDirectory
        self.commandLine = commandLine
        self.engines = engines
        self.template = template
        self.marker = SystemFacts.runMarker
        self.arguments = arguments
        self.socket = socket
    }
}

/// The options of a run that `resume` reuses unless given again: the tasks' flags and where and how they run.
/// (The engine specs are the header's `engines`; the working directory its `cwd`.)
public struct RunSettings: Sendable, Hashable {
    /// `--timeout`: the run-time limit in seconds.
    public var timeout: Double?
    /// `--timeout N%`: N, the limit as a percentage of the median run time of the successful tasks (nil otherwise;
    /// journals before it was recorded have none, and their resume says `--timeout none`).
    public var timeoutPercent: Double?
    public var retries: Int
    public var maxOutput: Int
    /// `--halt`: `now` or `soon`.
    public var halt: String?
    /// `--scheme` of the load-balanced view.
    public var scheme: String?
    /// `--env` names (their values are taken from the resumer's environment, as GNU parallel takes them).
    public var environment: [String]
    /// Where tasks ran: `--workdir` made absolute, else the run's working directory.
    public var workdir: String?
    /// A streamed run's input as given (`:::: /abs/file`, `-a -`, `--colsep ,` ...), for resume's account of it;
    /// nil for a sweep (its groups are the header's `args`) and in older journals.
    public var input: String?

    public init(
        timeout: Double? = nil, retries: Int = 0, maxOutput: Int = 65536, halt: String? = nil, scheme: String? = nil,
        environment: [String] = [], workdir: String? = nil
    ) {
        self.timeout = timeout
        self.retries = retries
        self.maxOutput = maxOutput
        self.halt = halt
        self.scheme = scheme
        self.environment = environment
        self.workdir = workdir
    }

    /// The settings as a JSON object (the header's `options`).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "retries": .integer(Int64(retries)), "max_output": .integer(Int64(maxOutput)),
            "env": .array(environment.map { .string($0) }),
        ]
        o["timeout"] = timeout.map { .number($0) } ?? .null
        if let timeoutPercent { o["timeout_percent"] = .number(timeoutPercent) }
        o["halt"] = halt.map { .string($0) } ?? .null
        o["scheme"] = scheme.map { .string($0) } ?? .null
        o["workdir"] = workdir.map { .string($0) } ?? .null
        if let input { o["input"] = .string(input) }
        return .object(o)
    }

    /// Reads the header's `options` back; nil when a field is of the wrong type or out of range.
    public init?(json j: JSONValue) {
        guard j.object != nil else { return nil }
        if let t = j["timeout"], t != .null {
            guard let v = t.double, v.isFinite, v > 0 else { return nil }
            timeout = v
        } else {
            timeout = nil
        }
        if let t = j["timeout_percent"], t != .null {
            guard let v = t.double, v.isFinite, v > 0, timeout == nil else { return nil }
            timeoutPercent = v
        } else {
            timeoutPercent = nil
        }
        guard let r = j["retries"]?.int ?? 0 as Int?, (0...65535).contains(r) else { return nil }
        retries = r
        guard let m = j["max_output"]?.int ?? 65536 as Int?, m >= 0 else { return nil }
        maxOutput = m
        func text(_ k: String) -> String?? {
            guard let v = j[k], v != .null else { return .some(nil) }
            return v.string.map { .some($0) } ?? nil
        }
        guard let halt = text("halt"), let scheme = text("scheme"), let workdir = text("workdir") else { return nil }
        self.halt = halt
        self.scheme = scheme
        self.workdir = workdir
        environment = j["env"]?.array?.compactMap(\.string) ?? []
        input = j["input"]?.string
    }
}
