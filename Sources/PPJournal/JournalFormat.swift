// The journal's format: JSON Lines, a header line per run (the first run, then one per resume), one line per event.
import Foundation
import Glibc
import PPAttach
import PPKit

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
}
