// The attach protocol: one JSON line per request, one reply line each, over the state socket.
import Foundation
import Glibc
import PPJSON
import PPKit
import PPSystem
import PPSource

/// The attach protocol's version; both ends must speak the same. 2: snapshots carry a window of the engine rows
/// with the engines' counts and the task stream's lanes; the failure triage and engine exclusion requests.
public let attachProtocolVersion = 2

/// Who serves a state socket.
public struct ServerInfo: Codable, Sendable, Hashable {
    public var protocolVersion: Int
    public var pid: Int32
    public var host: String
    public var journal: String
    public var ppdash: String
    public init(journal: String, ppdash: String) {
        protocolVersion = attachProtocolVersion
        pid = getpid()
        host = PPKit.hostName()
        self.journal = journal
        self.ppdash = ppdash
    }
}

/// What an attached view asks: one JSON line per request, one reply line each.
public enum AttachRequest: Codable, Sendable, Hashable {
    case hello(version: Int)
    case snapshot(TableQuery)
    case metadata(TaskID)
    case submit(String)
    case abortTask(TaskID)
    case abortBatch(BatchID)
    case retryTask(TaskID)
    case retryFailed(BatchID)
    case setPaused(Bool)
    case addEngine
    case removeEngine(EngineID?)
    case stop
    /// The failed tasks grouped for the triage view (`!`).
    case failureGroups
    /// Excludes an engine from new work, or includes it again (`x`).
    case setExcluded(EngineID, Bool)
}

/// The reply to one request: an error, or the value asked for.
public struct AttachReply: Codable, Sendable {
    public var error: String?
    public var snapshot: Snapshot?
    public var metadata: TaskMetadata?
    public var number: Int?
    public var server: ServerInfo?
    /// The failed tasks' groups (`failureGroups`); nil with no error: the serving source cannot list them.
    public var failureGroups: [FailureGroup]?
    public init(
        error: String? = nil, snapshot: Snapshot? = nil, metadata: TaskMetadata? = nil, number: Int? = nil,
        server: ServerInfo? = nil, failureGroups: [FailureGroup]? = nil
    ) {
        self.failureGroups = failureGroups
        self.error = error
        self.snapshot = snapshot
        self.metadata = metadata
        self.number = number
        self.server = server
    }
}

/// The rules of the state socket's path, and why a socket could not be made or reached.
public enum UnixSocket {
    /// The longest path a Unix socket address holds (with its NUL): `sockaddr_un.sun_path`.
    public static let maxPathLength = 108

    /// Why the state socket could not be made or reached.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var call: String
        public var code: Int32
        public init(call: String, code: Int32) {
            self.call = call
            self.code = code
        }
        public var description: String { code == 0 ? call : "\(call): \(SystemFacts.errorText(code))" }
    }
}

/// One message as a JSON line.
func encodeLine<T: Encodable>(_ value: T) -> [UInt8] {
    var bytes: [UInt8] = []
    do {
        try JSONEncoding.write(value, to: &bytes)
    } catch {
        bytes = Array(#"{"error":"cannot encode the reply"}"#.utf8)
    }
    bytes.append(10)
    return bytes
}

/// One message from a JSON line; nil when it is not one.
func decodeLine<T: Decodable>(_ type: T.Type, _ line: [UInt8]) -> T? {
    try? JSONDecoding.decode(type, from: line)
}

/// Where a state socket may live: never through a symlink; ppdash's own directory for sockets (`ppdash-UID` under the
/// temporary directory, used when the journal's path is too long for a socket) must be the user's own and 0700; a
/// journal's directory must be the user's and writable by no one else, or sticky (as /tmp: no one else can replace
/// the user's socket there). Checked by the server before it binds and by the client before it connects.
public enum SocketDirectory {
    /// The name of ppdash's private socket directory for this user.
    public static var privateName: String { "ppdash-\(geteuid())" }

    /// Nil when `dir` may hold the user's socket, else why not.
    public static func problem(with dir: String) -> String? {
        var st = stat()
        guard lstat(dir, &st) == 0 else { return "\(dir): \(SystemFacts.errorText(errno))" }
        if st.st_mode & S_IFMT == S_IFLNK { return "\(dir) is a symbolic link, not a directory of yours" }
        guard st.st_mode & S_IFMT == S_IFDIR else { return "\(dir) is not a directory" }
        let mine = st.st_uid == geteuid()
        let mode = st.st_mode & 0o7777
        let octal = String(mode & 0o777, radix: 8)
        if (dir as NSString).lastPathComponent == privateName {
            guard mine else { return "\(dir) belongs to uid \(st.st_uid), not to you (uid \(geteuid())): remove it or set TMPDIR" }
            guard mode & 0o077 == 0 else { return "\(dir) is open to others (mode \(octal)): it must be 0700 ('chmod 700 \(dir)')" }
            return nil
        }
        let sticky = mode & S_ISVTX != 0
        if !sticky && !mine { return "\(dir) belongs to uid \(st.st_uid), not to you (uid \(geteuid()))" }
        if !sticky && mode & 0o022 != 0 { return "\(dir) can be written by others (mode \(octal))" }
        return nil
    }
    /// Nil when the socket at `path` is one of the user's own, in a directory of theirs, else why not.
    public static func problem(withSocket path: String) -> String? {
        let dir = (path as NSString).deletingLastPathComponent
        if let p = problem(with: dir.isEmpty ? "." : dir) { return p }
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }  // none yet: connect says so
        guard st.st_mode & S_IFMT == S_IFSOCK else { return "\(path) is not a socket" }
        guard st.st_uid == geteuid() else { return "\(path) belongs to uid \(st.st_uid), not to you (uid \(geteuid()))" }
        return nil
    }
}
