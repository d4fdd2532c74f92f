import NIOCore
import PPSystem

/// The engine wire protocol's messages. Every frame carries the protocol version; a peer refuses any other.
///
/// A worker over stdio says `hello` at once and the scheduler answers `welcome`. A worker that connects in is
/// first sent a `challenge`; its `hello` proves it holds the token and the `welcome` proves the scheduler does.
public enum WireMessage: Sendable, Hashable {
    /// Worker to scheduler: who it is (and, connecting in, its proof of the token).
    case hello(WireHello)
    /// Listener to worker: a fresh nonce to prove the token on.
    case challenge(nonce: [UInt8])
    /// Scheduler to worker: accepted; heartbeat interval (and, connected in, the scheduler's own proof).
    case welcome(WireWelcome)
    /// Scheduler to worker: queue a task.
    case run(WireRun)
    /// Worker to scheduler: a task began (worker clock); `processGroup` 0 when no child process runs it.
    case started(task: Int64, at: Int64, processGroup: Int32)
    /// Worker to scheduler: a task ended (or is settled while the worker is still busy with it).
    case result(WireResult)
    /// Worker to scheduler: a piece of a running task's output, in the order it came (stream 0 stdout, 1 stderr). A
    /// shell task's output crosses the wire only so: its `result` carries no bytes, the scheduler's side keeps (and
    /// spools) what these frames brought.
    case output(task: Int64, stream: UInt8, bytes: [UInt8])
    /// Scheduler to worker: stop a queued or running task.
    case cancel(task: Int64, reason: CancelReason)
    /// Either way, every interval: "still here".
    case heartbeat
    /// Either way: the sender is leaving. To a worker: `graceful` finishes the running task first.
    case bye(reason: String, graceful: Bool)
    /// Worker to scheduler, with each heartbeat (version 3): its host's load and memory, its running task's meters.
    case load(WireLoad)
}

/// A worker's meters: its host's load and available memory, and what its running task's process tree uses.
public struct WireLoad: Sendable, Hashable {
    public var host: HostLoad
    /// CPU of the running task's processes, percent of one core; nil when nothing runs or not known yet.
    public var taskCPUPercent: Double?
    /// Resident memory of the running task's processes, bytes.
    public var taskRSSBytes: Int64?

    public init(host: HostLoad, taskCPUPercent: Double? = nil, taskRSSBytes: Int64? = nil) {
        self.host = host
        self.taskCPUPercent = taskCPUPercent
        self.taskRSSBytes = taskRSSBytes
    }

    /// As the engines pane shows it.
    public var meters: EngineMeters { EngineMeters(taskCPUPercent: taskCPUPercent, taskRSSBytes: taskRSSBytes, host: host) }
}

/// What a worker says about itself.
public struct WireHello: Sendable, Hashable {
    public var version: UInt16
    public var host: String
    public var pid: Int32
    public var cores: Int32
    /// The worker's nonce, for the scheduler's proof (empty over stdio).
    public var nonce: [UInt8]
    /// HMAC of the challenge under the token (empty over stdio).
    public var proof: [UInt8]

    public init(
        version: UInt16 = WireProtocol.version, host: String, pid: Int32, cores: Int32, nonce: [UInt8] = [],
        proof: [UInt8] = []
    ) {
        self.version = version
        self.host = host
        self.pid = pid
        self.cores = cores
        self.nonce = nonce
        self.proof = proof
    }
}

/// The scheduler's acceptance.
public struct WireWelcome: Sendable, Hashable {
    /// Milliseconds between heartbeats, both ways.
    public var heartbeatMillis: UInt32
    /// HMAC of the worker's nonce under the token (empty over stdio).
    public var proof: [UInt8]

    public init(heartbeatMillis: UInt32, proof: [UInt8] = []) {
        self.heartbeatMillis = heartbeatMillis
        self.proof = proof
    }
}

/// A task as it crosses the wire: shell commands are already expanded for the engine's slot.
public struct WireRun: Sendable, Hashable {
    public enum Work: Sendable, Hashable {
        case shell(command: String)
        case builtin(BuiltinTask)
    }
    public var task: Int64
    public var work: Work
    public var runTimeLimit: Double?
    public var maxOutput: Int64
    public var slot: Int32
    public var workingDirectory: String?
    /// Sorted by name, so equal runs encode equally.
    public var environment: [WireVariable]
    /// Where the worker spools a stream past `maxOutput` (sent to workers on this host only); nil: head and tail.
    public var spoolDirectory: String?

    public init(
        task: Int64, work: Work, runTimeLimit: Double?, maxOutput: Int64, slot: Int32, workingDirectory: String?,
        environment: [WireVariable], spoolDirectory: String? = nil
    ) {
        self.spoolDirectory = spoolDirectory
        self.task = task
        self.work = work
        self.runTimeLimit = runTimeLimit
        self.maxOutput = maxOutput
        self.slot = slot
        self.workingDirectory = workingDirectory
        self.environment = environment
    }
}

/// One environment variable.
public struct WireVariable: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// How a task ended, as the worker reports it.
public struct WireResult: Sendable, Hashable {
    /// What the task returned: nothing, an integer (built-ins), or a shell result rebuilt from the fields.
    public enum Value: UInt8, Sendable, Hashable {
        case none = 0
        case integer = 1
        case shell = 2
    }
    public var task: Int64
    /// True for an early verdict (run-time limit) while the worker is still busy with the task.
    public var settledOnly: Bool
    public var status: TaskStatus
    public var error: String?
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    public var exitStatus: Int32?
    public var signal: Int32?
    public var value: Value
    public var integer: Int64
    public var started: Int64
    public var completed: Int64
    /// The task process's CPU seconds and peak resident memory (wait4's rusage), when it ran (version 3).
    public var usage: ResourceUsage? = nil

    public init(
        task: Int64, settledOnly: Bool = false, status: TaskStatus, error: String? = nil,
        stdout: CapturedOutput = .empty, stderr: CapturedOutput = .empty, exitStatus: Int32? = nil,
        signal: Int32? = nil, value: Value = .none, integer: Int64 = 0, started: Int64, completed: Int64
    ) {
        self.task = task
        self.settledOnly = settledOnly
        self.status = status
        self.error = error
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.signal = signal
        self.value = value
        self.integer = integer
        self.started = started
        self.completed = completed
    }
}

/// Constants of the protocol.
public enum WireProtocol {
    /// The one version this build speaks; a frame of any other is refused.
    /// 3: a running task's output comes in `output` frames; a result carries the task's resource use
    /// (`WireResult.usage`); a worker sends its host's load (`load`).
    public static let version: UInt16 = 3
    /// The largest frame accepted once a peer is known (a result carries up to twice `--max-output`).
    public static let maxFrame = 64 << 20
    /// The largest frame accepted before the handshake: a stranger cannot make us buffer much.
    public static let maxHandshakeFrame = 64 << 10
    /// Bytes of output per stream a worker keeps at most, so any result fits in a frame.
    public static let maxOutputPerStream = 16 << 20
    /// The most bytes one `output` frame carries (a worker coalesces smaller pieces up to this).
    public static let maxOutputChunk = 64 << 10

    // A peer's values are checked like user input: a hostile or broken worker can fail its own tasks (its frame is
    // refused and its engine dies), never trap the scheduler with a value that overflows later arithmetic.

    /// Timestamps in microseconds since 1970, up to the year 2286: a clock reading, not an arithmetic hazard.
    public static let timestamps: ClosedRange<Int64> = 0...10_000_000_000_000_000
    /// Bytes a worker may say it dropped from one stream (1 PiB): sums of them cannot overflow.
    public static let maxDroppedBytes: Int64 = 1 << 50
    /// The longest duration a frame may carry, in seconds (as the command line's `Seconds.longest`).
    public static let longestSeconds: Double = 1e9
    /// Heartbeat intervals a welcome may ask for, in milliseconds (1 ms to an hour).
    public static let heartbeatMillis: ClosedRange<UInt32> = 1...3_600_000
    /// The most cores a hello may claim.
    public static let maxCores: Int32 = 1 << 20
    /// The longest host name a hello may carry (DNS names are at most 253 bytes).
    public static let maxHostBytes = 255
    /// Exit statuses and signal numbers as wait(2) reports them.
    public static let statusByte: ClosedRange<Int32> = 0...255
}

// MARK: - encoding

extension WireMessage {
    enum Kind: UInt8 {
        case hello = 1
        case challenge, welcome, run, started, result, cancel, heartbeat, bye
        case output = 20
        case load = 21
    }

    var kind: Kind {
        switch self {
        case .hello: .hello
        case .challenge: .challenge
        case .welcome: .welcome
        case .run: .run
        case .started: .started
        case .result: .result
        case .cancel: .cancel
        case .heartbeat: .heartbeat
        case .bye: .bye
        case .output: .output
        case .load: .load
        }
    }

    /// Appends this message as one frame: u32 big-endian length, then version, kind and body.
    public func encode(into buffer: inout ByteBuffer) {
        let lengthAt = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt8(truncatingIfNeeded: WireProtocol.version))
        buffer.writeInteger(kind.rawValue)
        switch self {
        case .hello(let h):
            buffer.writeInteger(h.version)
            buffer.writeWireString(h.host)
            buffer.writeInteger(h.pid)
            buffer.writeInteger(h.cores)
            buffer.writeWireBytes(h.nonce)
            buffer.writeWireBytes(h.proof)
        case .challenge(let nonce):
            buffer.writeWireBytes(nonce)
        case .welcome(let w):
            buffer.writeInteger(w.heartbeatMillis)
            buffer.writeWireBytes(w.proof)
        case .run(let r):
            buffer.writeInteger(r.task)
            switch r.work {
            case .shell(let command):
                buffer.writeInteger(UInt8(0))
                buffer.writeWireString(command)
            case .builtin(.noop):
                buffer.writeInteger(UInt8(1))
            case .builtin(.sleepSquare(let x, let seconds)):
                buffer.writeInteger(UInt8(2))
                buffer.writeInteger(Int64(x))
                buffer.writeInteger(min(seconds, WireProtocol.longestSeconds).bitPattern)
            }
            // Durations past the longest a frame may carry are sent as it (about 31 years): the same in effect.
            buffer.writeWireOptional(r.runTimeLimit.map { min($0, WireProtocol.longestSeconds).bitPattern }) {
                $0.writeInteger($1)
            }
            buffer.writeInteger(r.maxOutput)
            buffer.writeInteger(r.slot)
            buffer.writeWireOptional(r.workingDirectory) { $0.writeWireString($1) }
            buffer.writeInteger(UInt32(r.environment.count))
            for v in r.environment {
                buffer.writeWireString(v.name)
                buffer.writeWireString(v.value)
            }
            buffer.writeWireOptional(r.spoolDirectory) { $0.writeWireString($1) }
        case .started(let task, let at, let group):
            buffer.writeInteger(task)
            buffer.writeInteger(at)
            buffer.writeInteger(group)
        case .result(let r):
            buffer.writeInteger(r.task)
            buffer.writeInteger(UInt8(r.settledOnly ? 1 : 0))
            buffer.writeInteger(r.status.rawValue)
            buffer.writeWireOptional(r.error) { $0.writeWireString($1) }
            buffer.writeWireOutput(r.stdout)
            buffer.writeWireOutput(r.stderr)
            buffer.writeWireOptional(r.exitStatus) { $0.writeInteger($1) }
            buffer.writeWireOptional(r.signal) { $0.writeInteger($1) }
            buffer.writeInteger(r.value.rawValue)
            buffer.writeInteger(r.integer)
            buffer.writeInteger(r.started)
            buffer.writeInteger(r.completed)
            buffer.writeWireOptional(r.usage) { b, u in
                b.writeInteger(u.userSeconds.bitPattern)
                b.writeInteger(u.systemSeconds.bitPattern)
                b.writeWireOptional(u.maxRSSBytes) { $0.writeInteger($1) }
            }
        case .cancel(let task, let reason):
            buffer.writeInteger(task)
            buffer.writeInteger(UInt8(reason == .aborted ? 0 : 1))
        case .heartbeat:
            break
        case .output(let task, let stream, let bytes):
            buffer.writeInteger(task)
            buffer.writeInteger(stream)
            buffer.writeWireBytes(bytes)
        case .bye(let reason, let graceful):
            buffer.writeWireString(reason)
            buffer.writeInteger(UInt8(graceful ? 1 : 0))
        case .load(let l):
            buffer.writeInteger(l.host.load1.bitPattern)
            buffer.writeInteger(l.host.availableBytes)
            buffer.writeInteger(l.host.totalBytes)
            buffer.writeInteger(l.host.cpus)
            buffer.writeWireOptional(l.taskCPUPercent) { $0.writeInteger($1.bitPattern) }
            buffer.writeWireOptional(l.taskRSSBytes) { $0.writeInteger($1) }
        }
        let length = buffer.writerIndex - lengthAt - 4
        buffer.setInteger(UInt32(truncatingIfNeeded: length), at: lengthAt)
    }

    /// The message as one frame in a new buffer.
    public var frame: ByteBuffer {
        var b = ByteBuffer()
        encode(into: &b)
        return b
    }

    /// Decodes one frame's payload (version, kind, body); the whole payload must be used.
    public static func decode(payload: inout ByteBuffer) throws(WireError) -> WireMessage {
        var r = WireReader(payload)
        let version = try r.u8()
        guard UInt16(version) == WireProtocol.version else {
            throw WireError(
                .unsupportedVersion, "protocol version \(version) (this ppdash speaks \(WireProtocol.version))")
        }
        let rawKind = try r.u8()
        guard let kind = Kind(rawValue: rawKind) else {
            throw WireError(.malformed, "unknown message type \(rawKind)")
        }
        let message: WireMessage
        switch kind {
        case .hello:
            let version: UInt16 = try r.integer()
            guard version == WireProtocol.version else {
                throw WireError(
                    .unsupportedVersion,
                    "hello for protocol version \(version) (this ppdash speaks \(WireProtocol.version))")
            }
            let host = try r.string()
            guard host.utf8.count <= WireProtocol.maxHostBytes,
                !host.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw WireError(.malformed, "a host name of \(host.utf8.count) bytes or with control characters")
            }
            let pid: Int32 = try r.integer(in: 0...Int32.max, "pid")
            let cores: Int32 = try r.integer(in: 0...WireProtocol.maxCores, "core count")
            message = .hello(
                WireHello(
                    version: version, host: host, pid: pid, cores: cores, nonce: try r.bytes(), proof: try r.bytes()))
        case .challenge:
            message = .challenge(nonce: try r.bytes())
        case .welcome:
            message = .welcome(
                WireWelcome(
                    heartbeatMillis: try r.integer(in: WireProtocol.heartbeatMillis, "heartbeat interval (ms)"),
                    proof: try r.bytes()))
        case .run:
            let task: Int64 = try r.integer()
            let work: WireRun.Work
            switch try r.u8() {
            case 0: work = .shell(command: try r.string())
            case 1: work = .builtin(.noop)
            case 2:
                let x: Int64 = try r.integer()
                let seconds = Double(bitPattern: try r.integer())
                guard seconds.isFinite, seconds >= 0, seconds <= WireProtocol.longestSeconds else {
                    throw WireError(.malformed, "sleep of \(seconds) s")
                }
                work = .builtin(.sleepSquare(x: Int(x), seconds: seconds))
            case let other: throw WireError(.malformed, "unknown task kind \(other)")
            }
            let limit: Double? = try r.optional { r throws(WireError) in Double(bitPattern: try r.integer()) }
            if let limit, !(limit > 0 && limit <= WireProtocol.longestSeconds) {
                throw WireError(.malformed, "run-time limit of \(limit) s")
            }
            let maxOutput: Int64 = try r.integer()
            guard maxOutput >= 0 else { throw WireError(.malformed, "negative output limit") }
            let slot: Int32 = try r.integer(in: 0...Int32.max, "slot")
            let dir = try r.optional { r throws(WireError) in try r.string() }
            let count: UInt32 = try r.integer()
            guard Int(count) <= r.remaining / 8 else {
                throw WireError(.malformed, "\(count) variables in a short frame")
            }
            var env = [WireVariable]()
            env.reserveCapacity(Int(count))
            for _ in 0..<count { env.append(WireVariable(name: try r.string(), value: try r.string())) }
            let spool = try r.optional { r throws(WireError) in try r.string() }
            message = .run(
                WireRun(
                    task: task, work: work, runTimeLimit: limit, maxOutput: maxOutput,
                    slot: slot, workingDirectory: dir, environment: env, spoolDirectory: spool))
        case .started:
            message = .started(
                task: try r.integer(), at: try r.timestamp(), processGroup: try r.integer(in: 0...Int32.max, "process group"))
        case .result:
            let task: Int64 = try r.integer()
            let settled = try r.bool()
            let rawStatus = try r.u8()
            guard let status = TaskStatus(rawValue: rawStatus), status.isFinished else {
                throw WireError(.malformed, "task status \(rawStatus) is not a final one")
            }
            let error = try r.optional { r throws(WireError) in try r.string() }
            let stdout = try r.output()
            let stderr = try r.output()
            let exitStatus: Int32? = try r.optional { r throws(WireError) in
                try r.integer(in: WireProtocol.statusByte, "exit status")
            }
            let signal: Int32? = try r.optional { r throws(WireError) in
                try r.integer(in: WireProtocol.statusByte, "signal number")
            }
            let rawValue = try r.u8()
            guard let value = WireResult.Value(rawValue: rawValue) else {
                throw WireError(.malformed, "unknown value kind \(rawValue)")
            }
            var result = WireResult(
                task: task, settledOnly: settled, status: status, error: error, stdout: stdout, stderr: stderr,
                exitStatus: exitStatus, signal: signal, value: value, integer: try r.integer(),
                started: try r.timestamp(), completed: try r.timestamp())
            result.usage = try r.optional { r throws(WireError) in try r.usage() }
            message = .result(result)
        case .cancel:
            let task: Int64 = try r.integer()
            switch try r.u8() {
            case 0: message = .cancel(task: task, reason: .aborted)
            case 1: message = .cancel(task: task, reason: .runTimeLimit)
            case let other: throw WireError(.malformed, "cancel reason \(other)")
            }
        case .heartbeat:
            message = .heartbeat
        case .output:
            let task: Int64 = try r.integer()
            let stream: UInt8 = try r.integer(in: 0...1, "output stream")
            let bytes = try r.bytes()
            guard bytes.count <= WireProtocol.maxOutputChunk else {
                throw WireError(.malformed, "an output piece of \(bytes.count) bytes (at most \(WireProtocol.maxOutputChunk))")
            }
            message = .output(task: task, stream: stream, bytes: bytes)
        case .bye:
            message = .bye(reason: try r.string(), graceful: try r.bool())
        case .load:
            let load = try r.amount("load average")
            let avail: Int64 = try r.integer(in: 0...WireProtocol.maxDroppedBytes, "available memory")
            let total: Int64 = try r.integer(in: 0...WireProtocol.maxDroppedBytes, "total memory")
            let cpus: Int32 = try r.integer(in: 0...WireProtocol.maxCores, "cpus")
            let cpu = try r.optional { r throws(WireError) in try r.amount("task CPU percent") }
            let rss = try r.optional { r throws(WireError) -> Int64 in
                try r.integer(in: 0...WireProtocol.maxDroppedBytes, "task resident bytes")
            }
            message = .load(
                WireLoad(
                    host: HostLoad(load1: load, availableBytes: avail, totalBytes: total, cpus: cpus),
                    taskCPUPercent: cpu, taskRSSBytes: rss))
        }
        guard r.remaining == 0 else { throw WireError(.malformed, "\(r.remaining) bytes left after a \(kind) message") }
        return message
    }
}

/// Reads a payload, throwing on anything short or out of range.
struct WireReader {
    var buffer: ByteBuffer
    init(_ buffer: ByteBuffer) { self.buffer = buffer }

    var remaining: Int { buffer.readableBytes }

    mutating func u8() throws(WireError) -> UInt8 { try integer() }

    mutating func bool() throws(WireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let flag: throw WireError(.malformed, "flag \(flag) where 0 or 1 belongs")
        }
    }

    mutating func integer<T: FixedWidthInteger>() throws(WireError) -> T {
        guard let v = buffer.readInteger(as: T.self) else { throw WireError(.malformed, "frame ends inside a field") }
        return v
    }

    /// An integer within `range`; `what` names it in the refusal.
    mutating func integer<T: FixedWidthInteger>(in range: ClosedRange<T>, _ what: String) throws(WireError) -> T {
        let v: T = try integer()
        guard range.contains(v) else {
            throw WireError(.malformed, "\(what) \(v) outside \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// A byte count sent as Int64: not negative, at most `WireProtocol.maxDroppedBytes`.
    mutating func count() throws(WireError) -> Int {
        let v: Int64 = try integer()
        guard v >= 0 else { throw WireError(.malformed, "negative count") }
        guard v <= WireProtocol.maxDroppedBytes else { throw WireError(.malformed, "a count of \(v) bytes") }
        return Int(v)
    }

    /// An amount (seconds, a load, a percentage) sent as a Double's bits: finite, not negative, at most `WireProtocol.longestSeconds`.
    mutating func amount(_ what: String) throws(WireError) -> Double {
        let v = Double(bitPattern: try integer() as UInt64)
        guard v.isFinite, v >= 0, v <= WireProtocol.longestSeconds else { throw WireError(.malformed, "\(what) \(v)") }
        return v
    }

    /// A task's resource use: user and system CPU seconds, peak resident bytes.
    mutating func usage() throws(WireError) -> ResourceUsage {
        let user = try amount("user CPU seconds")
        let system = try amount("system CPU seconds")
        let rss = try optional { r throws(WireError) -> Int64 in
            try r.integer(in: 0...WireProtocol.maxDroppedBytes, "peak resident bytes")
        }
        return ResourceUsage(userSeconds: user, systemSeconds: system, maxRSSBytes: rss)
    }

    /// A timestamp in microseconds since 1970, within `WireProtocol.timestamps`.
    mutating func timestamp() throws(WireError) -> Int64 {
        try integer(in: WireProtocol.timestamps, "timestamp")
    }

    mutating func bytes() throws(WireError) -> [UInt8] {
        let n: UInt32 = try integer()
        guard Int(n) <= remaining, let b = buffer.readBytes(length: Int(n)) else {
            throw WireError(.malformed, "a field of \(n) bytes in a frame of \(remaining)")
        }
        return b
    }

    /// A stream's capture: its bytes, the head's length, the bytes dropped, the spool file if any.
    mutating func output() throws(WireError) -> CapturedOutput {
        let bytes = try self.bytes()
        let head = try count()
        guard head <= bytes.count else { throw WireError(.malformed, "a head of \(head) bytes in \(bytes.count)") }
        let dropped = try count()
        let spool = try optional { r throws(WireError) in try r.string() }
        return CapturedOutput(bytes: bytes, headCount: head, droppedBytes: dropped, spool: spool)
    }

    mutating func string() throws(WireError) -> String {
        let n: UInt32 = try integer()
        guard Int(n) <= remaining, let s = buffer.readString(length: Int(n)) else {
            throw WireError(.malformed, "a string of \(n) bytes in a frame of \(remaining)")
        }
        return s
    }

    mutating func optional<T>(_ body: (inout WireReader) throws(WireError) -> T) throws(WireError) -> T? {
        switch try u8() {
        case 0: return nil
        case 1: return try body(&self)
        case let flag: throw WireError(.malformed, "optional flag \(flag)")
        }
    }
}

extension ByteBuffer {
    mutating func writeWireString(_ s: String) {
        let at = writerIndex
        writeInteger(UInt32(0))
        let n = writeString(s)
        setInteger(UInt32(truncatingIfNeeded: n), at: at)
    }

    mutating func writeWireOutput(_ o: CapturedOutput) {
        writeWireBytes(o.bytes)
        writeInteger(Int64(o.headCount))
        writeInteger(Int64(o.droppedBytes))
        writeWireOptional(o.spool) { $0.writeWireString($1) }
    }

    mutating func writeWireBytes(_ b: [UInt8]) {
        writeInteger(UInt32(truncatingIfNeeded: b.count))
        writeBytes(b)
    }

    mutating func writeWireOptional<T>(_ v: T?, _ body: (inout ByteBuffer, T) -> Void) {
        if let v {
            writeInteger(UInt8(1))
            body(&self, v)
        } else {
            writeInteger(UInt8(0))
        }
    }
}
