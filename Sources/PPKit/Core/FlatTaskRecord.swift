import PPJSON
import PPSystem

/// The flat JSON object `ppdash run --json` prints per task (and the journal's `completed` line carries).
public struct FlatTaskRecord: Sendable, Hashable {
    public var id: String
    public var seq: Int
    public var batch: Int
    public var args: [String]
    public var command: String
    public var engine: Int?
    public var host: String?
    public var status: String
    public var exit: Int32?
    public var signal: Int32?
    public var submitted: Timestamp
    public var started: Timestamp?
    public var completed: Timestamp?
    public var duration: Double?
    public var retries: Int
    public var stdout: String
    public var stderr: String
    public var stdoutDropped: Int
    public var stderrDropped: Int
    /// The stream's bytes when `stdout` is not exactly them (not UTF-8): JSON's `stdout_base64`.
    public var stdoutBytes: [UInt8]?
    public var stderrBytes: [UInt8]?
    /// The file holding the whole stream, when it passed `--max-output`: JSON's `stdout_spool`.
    public var stdoutSpool: String?
    public var stderrSpool: String?
    /// Of `stdoutDropped`, the bytes a journal's `completed` line left out although the task's record had them (the
    /// line keeps `JournalFormat.outputKept` bytes, head and tail; the spool file has the whole stream): `stdout_cut`.
    public var stdoutCut = 0
    public var stderrCut = 0
    public var error: String?
    /// `cpu_user`, `cpu_system` (seconds) and `max_rss` (bytes) of the task's process, when known.
    public var cpuUser: Double?
    public var cpuSystem: Double?
    public var maxRSS: Int64?

    /// The stream as captured: the exact bytes where the record has them.
    public var stdoutOutput: CapturedOutput {
        CapturedOutput(bytes: stdoutBytes ?? Array(stdout.utf8), droppedBytes: stdoutDropped, spool: stdoutSpool)
    }
    public var stderrOutput: CapturedOutput {
        CapturedOutput(bytes: stderrBytes ?? Array(stderr.utf8), droppedBytes: stderrDropped, spool: stderrSpool)
    }

    public init(_ m: TaskMetadata) {
        id = m.msgId
        seq = m.seq
        batch = m.batch
        args = m.args
        command = m.text
        engine = m.engine
        host = m.engineHost
        status = m.status.description
        exit = m.exitStatus
        signal = m.signal
        submitted = m.submitted
        started = m.started
        completed = m.completed
        duration = m.duration.map { ($0 * 1e6).rounded() / 1e6 }
        retries = m.retries
        stdout = m.stdout.text
        stderr = m.stderr.text
        stdoutDropped = m.stdout.droppedBytes
        stderrDropped = m.stderr.droppedBytes
        stdoutBytes = m.stdout.isValidUTF8 ? nil : m.stdout.bytes
        stderrBytes = m.stderr.isValidUTF8 ? nil : m.stderr.bytes
        stdoutSpool = m.stdout.spool
        stderrSpool = m.stderr.spool
        error = m.error
        cpuUser = m.usage.map { ($0.userSeconds * 1e6).rounded() / 1e6 }
        cpuSystem = m.usage.map { ($0.systemSeconds * 1e6).rounded() / 1e6 }
        maxRSS = m.usage?.maxRSSBytes
    }

    /// The resource use the record carries (both CPU figures, or none; `max_rss` may be unknown).
    public var usage: ResourceUsage? {
        guard let u = cpuUser, let s = cpuSystem else { return nil }
        return ResourceUsage(userSeconds: u, systemSeconds: s, maxRSSBytes: maxRSS)
    }

    /// Reads a record back from a parsed object; keys a line lacks take empty values (nil when `id` is missing).
    public init?(json j: JSONValue) {
        guard let id = j["id"]?.string ?? j["id"]?.int.map(String.init) else { return nil }
        self.id = id
        seq = j["seq"]?.int ?? Int(id) ?? 0
        batch = j["batch"]?.int ?? 1
        args = j.bytesTexts("args") ?? []  // exact from args_base64 when an argument is not UTF-8
        command = j.bytesText("command") ?? ""
        engine = j["engine"]?.int
        host = j["host"]?.string
        status = j["status"]?.string ?? "error"
        exit = j["exit"]?.int.map { Int32(truncatingIfNeeded: $0) }
        signal = j["signal"]?.int.map { Int32(truncatingIfNeeded: $0) }
        submitted = Timestamp(iso8601: j["submitted"]?.string ?? "") ?? Timestamp(microseconds: 0)
        started = j["started"]?.string.flatMap { Timestamp(iso8601: $0) }
        completed = j["completed"]?.string.flatMap { Timestamp(iso8601: $0) }
        duration = j["duration"]?.double
        retries = j["retries"]?.int ?? 0
        stdout = j["stdout"]?.string ?? ""
        stderr = j["stderr"]?.string ?? ""
        stdoutDropped = j["stdout_dropped"]?.int ?? 0
        stderrDropped = j["stderr_dropped"]?.int ?? 0
        stdoutBytes = j["stdout_base64"]?.string.flatMap(Base64.decode)
        stderrBytes = j["stderr_base64"]?.string.flatMap(Base64.decode)
        stdoutSpool = j["stdout_spool"]?.string
        stderrSpool = j["stderr_spool"]?.string
        stdoutCut = j["stdout_cut"]?.int.map { max(0, $0) } ?? 0
        stderrCut = j["stderr_cut"]?.int.map { max(0, $0) } ?? 0
        error = j["error"]?.string
        // Out of range or the wrong type: left out (the record stays readable).
        cpuUser = j["cpu_user"]?.double.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        cpuSystem = j["cpu_system"]?.double.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        maxRSS = j["max_rss"]?.int.flatMap { $0 >= 0 ? Int64($0) : nil }
    }

    /// Adds the record's keys to `o`, in the fixed order scripts (and the journal's skim) see.
    @inlinable
    public func write(to o: inout JSONObjectWriter) {
        o.add("id", id)
        o.add("seq", seq)
        o.add("batch", batch)
        o.addBytes("args", args)  // plus args_base64 when an argument is not UTF-8
        o.addBytes("command", command)
        o.add("engine", engine)
        o.add("host", host)
        o.add("status", status)
        o.add("exit", exit.map(Int.init))
        o.add("signal", signal.map(Int.init))
        o.add("submitted", iso8601: submitted.microseconds)
        o.add("started", iso8601: started?.microseconds)
        o.add("completed", iso8601: completed?.microseconds)
        o.add("duration", duration)
        o.add("retries", retries)
        o.add("stdout", stdout)
        o.add("stderr", stderr)
        o.add("stdout_dropped", stdoutDropped)
        o.add("stderr_dropped", stderrDropped)
        // Only when there is something to say: most records have neither.
        if let b = stdoutBytes { o.add("stdout_base64", Base64.encode(b)) }
        if let b = stderrBytes { o.add("stderr_base64", Base64.encode(b)) }
        if let p = stdoutSpool { o.add("stdout_spool", p) }
        if let p = stderrSpool { o.add("stderr_spool", p) }
        o.add("error", error)
        if let cpuUser, let cpuSystem {
            o.add("cpu_user", cpuUser)
            o.add("cpu_system", cpuSystem)
            // null: below ppdash's own peak, which Linux counts in a spawned task's figure (not measurable).
            o.add("max_rss", maxRSS.map { Int($0) })
        }
    }

    /// One line of JSON (no newline), keys in the fixed order.
    public func jsonLine() -> String {
        var o = JSONObjectWriter()
        write(to: &o)
        return o.finish()
    }
}
