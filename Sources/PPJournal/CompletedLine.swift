// The `completed` line of a task whose facts say all of it (no output, error, exit status), encoded straight from the
// facts: the line every no-op task costs, on the scheduler's delivery thread.
import PPJSON
import PPKit
import PPSystem

extension JournalEvent {
    /// Appends the `completed` line of a task with no extras (`TaskFacts.hasExtras` false), without the newline: the
    /// same bytes as `.completed(FlatTaskRecord(f, host: host), of: of, attempt: attempt)` gives with `id` as the
    /// record's id, without building the record (no `TaskMetadata`, no id as text, no copies of the strings).
    ///
    /// `command` is the task's `,"command":...` field as `commandField(_:)` encodes it (a batch of tasks sharing one
    /// text encodes it once); `host` is nil when the engine's line names it.
    static func appendCompleted(
        _ f: TaskFacts, id: Int, command: [UInt8], host: String?, of: String?, attempt: Int?, to out: inout [UInt8]
    ) {
        JSONBytes.appendLiteral("{\"event\":\"completed\",\"id\":", to: &out)
        JSONBytes.appendInt(id, to: &out)
        if let of {
            JSONBytes.appendLiteral(",\"of\":", to: &out)
            JSONBytes.appendString(of, to: &out)
        }
        if let attempt {
            JSONBytes.appendLiteral(",\"attempt\":", to: &out)
            JSONBytes.appendInt(attempt, to: &out)
        }
        out.append(contentsOf: command)
        if !f.args.isEmpty { appendBytesField("args", f.args, to: &out) }
        if let e = f.engine {
            JSONBytes.appendLiteral(",\"engine\":", to: &out)
            JSONBytes.appendInt(e, to: &out)
        }
        if let host {
            JSONBytes.appendLiteral(",\"host\":", to: &out)
            JSONBytes.appendString(host, to: &out)
        }
        JSONBytes.appendLiteral(",\"status\":", to: &out)
        appendStatus(f.status, to: &out)
        JSONBytes.appendLiteral(",\"submitted_us\":", to: &out)
        JSONBytes.appendInt(Int(f.submitted.microseconds), to: &out)
        if let t = f.started {
            JSONBytes.appendLiteral(",\"started_us\":", to: &out)
            JSONBytes.appendInt(Int(t.microseconds), to: &out)
        }
        if let t = f.completed {
            JSONBytes.appendLiteral(",\"completed_us\":", to: &out)
            JSONBytes.appendInt(Int(t.microseconds), to: &out)
        }
        if f.retries != 0 {
            JSONBytes.appendLiteral(",\"retries\":", to: &out)
            JSONBytes.appendInt(f.retries, to: &out)
        }
        out.append(0x7D)
    }

    /// `,"command":TEXT` as the `completed` line has it (with `command_base64` for bytes that are not UTF-8).
    static func commandField(_ command: String) -> [UInt8] {
        var out = [UInt8]()
        appendBytesField("command", command, to: &out)
        return out
    }

    /// `,"KEY":...` exactly as `JSONObjectWriter.addBytes` writes it after another key.
    static func appendBytesField(_ key: StaticString, _ value: String, to out: inout [UInt8]) {
        if !ByteText.hasEscapes(value) {
            out.append(0x2C)
            out.append(0x22)
            JSONBytes.appendLiteral(key, to: &out)
            JSONBytes.appendLiteral("\":", to: &out)
            JSONBytes.appendString(value, to: &out)
            return
        }
        var object = [UInt8]()
        JSONObjectWriter.append(to: &object) { $0.addBytes(key.description, value) }
        out.append(0x2C)
        out.append(contentsOf: object[1..<(object.count - 1)])
    }

    /// As `appendBytesField(_:_:to:)`, for a list.
    static func appendBytesField(_ key: StaticString, _ value: [String], to out: inout [UInt8]) {
        var object = [UInt8]()
        JSONObjectWriter.append(to: &object) { $0.addBytes(key.description, value) }
        out.append(0x2C)
        out.append(contentsOf: object[1..<(object.count - 1)])
    }

    /// The status as a JSON string (`TaskStatus.description`, no escaping scan).
    static func appendStatus(_ s: TaskStatus, to out: inout [UInt8]) {
        switch s {
        case .ok: JSONBytes.appendLiteral("\"ok\"", to: &out)
        case .error: JSONBytes.appendLiteral("\"error\"", to: &out)
        case .timeout: JSONBytes.appendLiteral("\"timeout\"", to: &out)
        case .aborted: JSONBytes.appendLiteral("\"aborted\"", to: &out)
        default: JSONBytes.appendString(s.description, to: &out)
        }
    }
}
