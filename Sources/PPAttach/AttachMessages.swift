// The attach protocol: one JSON line per request, one reply line each, over the state socket.
import Glibc
import PPJSON
import PPKit
import PPSystem
import PPSource

/// The attach protocol's version; both ends must speak the same.
public let attachProtocolVersion = 1

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
}

/// The reply to one request: an error, or the value asked for.
public struct AttachReply: Codable, Sendable {
    public var error: String?
    public var snapshot: Snapshot?
    public var metadata: TaskMetadata?
    public var number: Int?
    public var server: ServerInfo?
    public init(
        error: String? = nil, snapshot: Snapshot? = nil, metadata: TaskMetadata? = nil, number: Int? = nil,
        server: ServerInfo? = nil
    ) {
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
