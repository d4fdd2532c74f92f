import PPSystem

/// A task's identity: a positive integer, unique within one scheduler, shown as ipyparallel's `msg_id`.
public struct TaskID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: TaskID, b: TaskID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// An engine's identity within one scheduler (ipyparallel's engine id, 0-based).
public typealias EngineID = Int

/// A batch's identity: one AsyncResult is one batch (1-based).
public typealias BatchID = Int

/// Where a task is in its life. `timeout` means the run-time limit was hit; a dependency timeout is an `error`.
public enum TaskStatus: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case pending, running, ok, error, aborted, timeout

    public var isFinished: Bool { self.rawValue >= TaskStatus.ok.rawValue }
    /// Finished and not `ok`.
    public var isFailure: Bool { self == .error || self == .aborted || self == .timeout }
    public var description: String {
        switch self {
        case .pending: "pending"
        case .running: "running"
        case .ok: "ok"
        case .error: "error"
        case .aborted: "aborted"
        case .timeout: "timeout"
        }
    }
    public init?(name: String) {
        guard let s = TaskStatus.allCases.first(where: { $0.description == name }) else { return nil }
        self = s
    }
}

/// Captured output of one stream, as bytes, bounded: the head and tail are kept, the middle dropped and counted (and,
/// when the run has a spool directory, the whole stream is in the file `spool`).
public struct CapturedOutput: Sendable, Hashable, Codable {
    /// The bytes kept: the head, then (when bytes were dropped) the tail.
    public var bytes: [UInt8]
    /// How many of `bytes` are the head; the rest is the tail (all of them when nothing was dropped).
    public var headCount: Int
    /// Bytes between head and tail not kept in memory.
    public var droppedBytes: Int
    /// The file holding the whole stream, byte for byte, once it passed the in-memory bound.
    public var spool: String?
    /// The bytes were printed and dropped from memory (`released()`); the journal or the spool file has them.
    public var released = false

    public init(bytes: [UInt8] = [], headCount: Int? = nil, droppedBytes: Int = 0, spool: String? = nil) {
        self.bytes = bytes
        self.headCount = min(max(0, headCount ?? bytes.count), bytes.count)
        self.droppedBytes = max(0, droppedBytes)
        self.spool = spool
    }

    /// Output known only as text (sources that decode it themselves).
    public init(text: String, droppedBytes: Int = 0) {
        self.init(bytes: Array(text.utf8), droppedBytes: droppedBytes)
    }

    public static let empty = CapturedOutput()

    /// This output with its bytes dropped from memory: the sizes and the spool file stay.
    public func releasingBytes() -> CapturedOutput {
        var r = CapturedOutput(bytes: [], droppedBytes: totalBytes, spool: spool)
        r.released = !isEmpty
        return r
    }

    public var isEmpty: Bool { bytes.isEmpty && droppedBytes == 0 }
    /// Bytes the stream held in all.
    public var totalBytes: Int { bytes.count + droppedBytes }
    /// The head's bytes.
    public var head: ArraySlice<UInt8> { bytes[..<headCount] }
    /// The tail's bytes (empty when nothing was dropped).
    public var tail: ArraySlice<UInt8> { bytes[headCount...] }

    /// For display only: the bytes decoded as UTF-8, invalid sequences as U+FFFD (head and tail apart when cut).
    public var text: String {
        if headCount == bytes.count { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: head, as: UTF8.self) + String(decoding: tail, as: UTF8.self)
    }

    /// Whether `text` is exactly the bytes (valid UTF-8, head and tail each).
    public var isValidUTF8: Bool {
        func valid(_ b: ArraySlice<UInt8>) -> Bool {
            var it = b.makeIterator()
            var codec = UTF8()
            while true {
                switch codec.decode(&it) {
                case .scalarValue: continue
                case .emptyInput: return true
                case .error: return false
                }
            }
        }
        return valid(head) && valid(tail)
    }
}

/// A dependency on other tasks, as ipyparallel's `Dependency(ids, all, success, failure)`.
public struct Dependency: Sendable, Hashable, Codable {
    public var ids: [TaskID]
    /// All must be met (true) or any one (false).
    public var all: Bool
    /// A dependency that finished `ok` counts as met.
    public var success: Bool
    /// A dependency that failed counts as met.
    public var failure: Bool

    public init(_ ids: [TaskID], all: Bool = true, success: Bool = true, failure: Bool = false) {
        self.ids = ids
        self.all = all
        self.success = success
        self.failure = failure
    }
    public static func successOnly(_ ids: [TaskID]) -> Dependency { Dependency(ids) }
    public static func failureOnly(_ ids: [TaskID]) -> Dependency { Dependency(ids, success: false, failure: true) }
    public var isEmpty: Bool { ids.isEmpty }
}

/// The record ipyparallel's `ar.metadata[i]` prints, plus what ipyparallel lacks (a live `running` state, retries).
public struct TaskMetadata: Sendable, Hashable, Codable {
    public var id: TaskID
    public var batch: BatchID
    /// 1-based task number within its batch (GNU parallel's `{#}`).
    public var seq: Int
    public var engine: EngineID?
    public var engineHost: String?
    public var status: TaskStatus
    public var submitted: Timestamp
    public var started: Timestamp?
    public var completed: Timestamp?
    public var received: Timestamp?
    public var retries: Int
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    public var error: String?
    public var exitStatus: Int32?
    public var signal: Int32?
    public var after: Dependency?
    public var follow: Dependency?
    /// The command, or a description of the call, for display.
    public var text: String
    /// The arguments this task was given (shell sweeps), for display and JSON.
    public var args: [String]
    /// The process group of a shell task while it runs (for orphan checks).
    public var processGroup: Int32?

    /// The source's own task id where it has one (an ipyparallel cluster's msg_id), else nil.
    public var externalId: String? = nil
    /// CPU seconds and peak resident memory of a finished shell task's process (`/usr/bin/time -v`'s figures).
    public var usage: ResourceUsage? = nil

    /// ipyparallel's `msg_id`.
    public var msgId: String { externalId ?? id.description }
    /// Completed minus started, in seconds, when both are known.
    public var duration: Double? {
        guard let s = started, let c = completed else { return nil }
        return s.seconds(to: c)
    }
}

/// Per-status counters, the unit of every progress figure.
public struct StatusCounts: Sendable, Hashable, Codable {
    public var pending = 0
    public var running = 0
    public var ok = 0
    public var error = 0
    public var aborted = 0
    public var timeout = 0
    public init() {}

    public var total: Int { pending + running + ok + error + aborted + timeout }
    public var done: Int { ok + error + aborted + timeout }
    public var failed: Int { error + aborted + timeout }

    public subscript(status: TaskStatus) -> Int {
        get {
            switch status {
            case .pending: pending
            case .running: running
            case .ok: ok
            case .error: error
            case .aborted: aborted
            case .timeout: timeout
            }
        }
        set {
            switch status {
            case .pending: pending = newValue
            case .running: running = newValue
            case .ok: ok = newValue
            case .error: error = newValue
            case .aborted: aborted = newValue
            case .timeout: timeout = newValue
            }
        }
    }
    @inline(__always) mutating func move(from: TaskStatus, to: TaskStatus) {
        self[from] -= 1
        self[to] += 1
    }
}
