import Foundation

/// The flat JSON object `ppdash run --json` prints per task (and the journal's `completed` line carries).
public struct FlatTaskRecord: Codable, Sendable, Hashable {
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
    public var submitted: String
    public var started: String?
    public var completed: String?
    public var duration: Double?
    public var retries: Int
    public var stdout: String
    public var stderr: String
    public var stdout_dropped: Int
    public var stderr_dropped: Int
    public var error: String?

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
        submitted = m.submitted.iso8601
        started = m.started?.iso8601
        completed = m.completed?.iso8601
        duration = m.duration.map { ($0 * 1e6).rounded() / 1e6 }
        retries = m.retries
        stdout = m.stdout.text
        stderr = m.stderr.text
        stdout_dropped = m.stdout.droppedBytes
        stderr_dropped = m.stderr.droppedBytes
        error = m.error
    }

    enum CodingKeys: String, CodingKey {
        case id, seq, batch, args, command, engine, host, status, exit, signal, submitted, started, completed, duration
        case retries, stdout, stderr, stdout_dropped, stderr_dropped, error
    }

    /// Encodes every key, nulls included, so scripts see a fixed shape.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(seq, forKey: .seq)
        try c.encode(batch, forKey: .batch)
        try c.encode(args, forKey: .args)
        try c.encode(command, forKey: .command)
        try c.encode(engine, forKey: .engine)
        try c.encode(host, forKey: .host)
        try c.encode(status, forKey: .status)
        try c.encode(exit, forKey: .exit)
        try c.encode(signal, forKey: .signal)
        try c.encode(submitted, forKey: .submitted)
        try c.encode(started, forKey: .started)
        try c.encode(completed, forKey: .completed)
        try c.encode(duration, forKey: .duration)
        try c.encode(retries, forKey: .retries)
        try c.encode(stdout, forKey: .stdout)
        try c.encode(stderr, forKey: .stderr)
        try c.encode(stdout_dropped, forKey: .stdout_dropped)
        try c.encode(stderr_dropped, forKey: .stderr_dropped)
        try c.encode(error, forKey: .error)
    }

    /// One line of JSON, keys in a fixed order.
    public func jsonLine() -> String {
        var o = JSONObjectWriter()
        o.add("id", id)
        o.add("seq", seq)
        o.add("batch", batch)
        o.add("args", args)
        o.add("command", command)
        o.add("engine", engine)
        o.add("host", host)
        o.add("status", status)
        o.add("exit", exit.map(Int.init))
        o.add("signal", signal.map(Int.init))
        o.add("submitted", submitted)
        o.add("started", started)
        o.add("completed", completed)
        o.add("duration", duration)
        o.add("retries", retries)
        o.add("stdout", stdout)
        o.add("stderr", stderr)
        o.add("stdout_dropped", stdout_dropped)
        o.add("stderr_dropped", stderr_dropped)
        o.add("error", error)
        return o.finish()
    }
}

/// Writes one JSON object with keys in insertion order (Foundation's encoder does not keep the order on Linux).
public struct JSONObjectWriter {
    private var out = "{"
    private var first = true
    public init() {}

    private mutating func key(_ k: String) {
        if !first { out += "," }
        first = false
        JSONObjectWriter.appendString(k, to: &out)
        out += ":"
    }
    public mutating func add(_ k: String, _ v: String?) {
        key(k)
        if let v { JSONObjectWriter.appendString(v, to: &out) } else { out += "null" }
    }
    public mutating func add(_ k: String, _ v: Int?) {
        key(k)
        out += v.map(String.init) ?? "null"
    }
    public mutating func add(_ k: String, _ v: Double?) {
        key(k)
        if let v, v.isFinite { out += String(v) } else { out += "null" }
    }
    public mutating func add(_ k: String, _ v: Bool) {
        key(k)
        out += v ? "true" : "false"
    }
    public mutating func add(_ k: String, _ v: [String]) {
        key(k)
        out += "["
        for (i, s) in v.enumerated() {
            if i > 0 { out += "," }
            JSONObjectWriter.appendString(s, to: &out)
        }
        out += "]"
    }
    /// Adds an already-encoded JSON value.
    public mutating func addRaw(_ k: String, _ json: String) {
        key(k)
        out += json
    }
    public mutating func finish() -> String { out + "}" }

    /// Appends `s` as a JSON string literal.
    public static func appendString(_ s: String, to out: inout String) {
        out += "\""
        // Nothing to escape (the usual case): append it whole. 0xE2 leads U+2028/U+2029, so it takes the slow way.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F || $0 == 0xE2 }) {
            out += s
            out += "\""
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F || u.value == 0x2028 || u.value == 0x2029 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
