import PPKit

/// The hub's `db_request` queries, built around its query bugs (ipyparallel 9.2.0, DictDB).
///
/// - `$gt` compares the wrong way round (it acts as `$lt`): only `$gte` is used, and the boundary record is
///   received twice and deduplicated by msg_id.
/// - Two plain `key: value` equalities match nothing: equality is always written `{"$eq": v}`.
/// - Comparing a null date raises TypeError: a null guard `"$ne": null` comes first in the same operator object
///   (the hub evaluates operators in order, and `JSON.text` writes `$ne` first).
public enum HubQuery {
    /// Keys of a task record ppdash reads (with the call's and the result's pickles as buffers).
    public static let recordKeys = [
        "msg_id", "header", "metadata", "submitted", "client_uuid", "engine_uuid", "started", "completed", "received",
        "result_content", "result_metadata", "queue", "stdout", "stderr", "error", "label", "buffers", "result_buffers",
    ]
    /// Keys for a finished task's update (no call pickle: ppdash has it already).
    public static let updateKeys = [
        "msg_id", "engine_uuid", "started", "completed", "received", "result_content", "result_metadata", "stdout",
        "stderr", "error", "result_buffers",
    ]

    /// Tasks submitted at or after `since` (all tasks when nil): msg_ids only, to learn which are new.
    public static func submitted(since: Timestamp?) -> JSON {
        guard let since else { return [:] }
        return ["submitted": ["$ne": nil, "$gte": .string(since.iso8601)]]
    }

    /// Tasks without a result yet, submitted at or after `since` (all of them when nil).
    public static func waiting(since: Timestamp?) -> JSON {
        guard let since else { return ["received": ["$eq": nil]] }
        return ["received": ["$eq": nil], "submitted": ["$ne": nil, "$gte": .string(since.iso8601)]]
    }

    /// Tasks the hub received a result for at or after `since` (every finished one when nil).
    public static func finished(since: Timestamp?) -> JSON {
        guard let since else { return ["received": ["$ne": nil]] }
        return ["received": ["$ne": nil, "$gte": .string(since.iso8601)]]
    }

    /// The records with these msg_ids.
    public static func records(_ ids: [String]) -> JSON { ["msg_id": ["$in": .array(ids.map { .string($0) })]] }

    /// The content of a `db_request`.
    public static func request(_ query: JSON, keys: [String]?) -> JSON {
        ["query": query, "keys": keys.map { .array($0.map { .string($0) }) } ?? .null]
    }
}

/// One task record from the hub (or from a reply ppdash received itself), decoded.
public struct HubRecord: Sendable, Equatable {
    public var msgId: String
    /// The submitting client's session (`header.session`).
    public var session: String?
    public var label: String?
    public var queue: String?
    public var submitted: Timestamp?
    public var engineUUID: String?
    public var started: Timestamp?
    public var completed: Timestamp?
    public var received: Timestamp?
    /// `ok`, `error` or `aborted` once finished.
    public var resultStatus: String?
    /// `ename: evalue` and the traceback for a failed task.
    public var error: String?
    public var stdout: String?
    public var stderr: String?
    /// The call, for display: `square(3)`, or the shell command.
    public var call: TaskCall?
    /// The decoded return value, when the result pickle could be read.
    public var result: PickleValue?
    /// Why the result could not be decoded.
    public var resultNote: String?
    /// The `retries` the submitter allowed.
    public var retries: Int?

    public init(msgId: String) { self.msgId = msgId }

    /// Decodes a `db_reply`'s records, pairing each with its buffers (`buffers` then `result_buffers`, per record).
    public static func parse(dbReply content: JSON, buffers: [[UInt8]]) -> [HubRecord] {
        guard let records = content["records"]?.array else { return [] }
        let lens = content["buffer_lens"]?.array?.map { $0.int ?? 0 }
        let rlens = content["result_buffer_lens"]?.array?.map { $0.int ?? 0 }
        var next = 0
        var out: [HubRecord] = []
        out.reserveCapacity(records.count)
        func take(_ n: Int) -> [[UInt8]] {
            // `n` comes from the hub (up to Int.max): compared with what is left, so no sum can overflow.
            let end = next + min(buffers.count - next, max(0, n))
            defer { next = end }
            return next < end ? Array(buffers[next..<end]) : []
        }
        for (k, r) in records.enumerated() {
            let callBufs = lens.map { k < $0.count ? take($0[k]) : [] }
            let resultBufs = rlens.map { k < $0.count ? take($0[k]) : [] }
            if let rec = HubRecord(record: r, callBuffers: callBufs, resultBuffers: resultBufs) { out.append(rec) }
        }
        return out
    }

    /// One record of a `db_reply`.
    public init?(record r: JSON, callBuffers: [[UInt8]]?, resultBuffers: [[UInt8]]?) {
        guard let id = r["msg_id"]?.string else { return nil }
        msgId = id
        session = r["client_uuid"]?.string ?? r["header"]?["session"]?.string
        label = r["label"]?.string ?? r["metadata"]?["label"]?.string
        queue = r["queue"]?.string
        submitted = r["submitted"]?.string.flatMap(ISODate.parse) ?? r["header"]?["date"]?.string.flatMap(ISODate.parse)
        engineUUID = r["engine_uuid"]?.string
        started = r["started"]?.string.flatMap(ISODate.parse)
        completed = r["completed"]?.string.flatMap(ISODate.parse)
        received = r["received"]?.string.flatMap(ISODate.parse)
        retries = r["metadata"]?["retries"]?.int
        if let rc = r["result_content"], rc != .null {
            resultStatus = rc["status"]?.string
            if resultStatus == "error" { error = Self.describeError(rc) }
        }
        if error == nil, let e = r["error"], e != .null { error = Self.describeError(e) }
        if let s = r["stdout"]?.string, !s.isEmpty { stdout = s }
        if let s = r["stderr"]?.string, !s.isEmpty { stderr = s }
        if let cb = callBuffers, !cb.isEmpty { call = TaskCall(buffers: cb) }
        if let rb = resultBuffers { decodeResult(rb) }
    }

    /// A reply to a task ppdash submitted (`apply_reply` on the task socket).
    public init?(reply m: JupyterMessage, engineUUID uuid: String?, receivedAt: Timestamp) {
        guard let id = m.parentId else { return nil }
        msgId = id
        engineUUID = m.metadata["engine"]?.string ?? uuid
        started = m.metadata["started"]?.string.flatMap(ISODate.parse)
        completed = m.header["date"]?.string.flatMap(ISODate.parse)
        received = receivedAt
        resultStatus = m.content["status"]?.string ?? m.metadata["status"]?.string
        if resultStatus == "error" { error = Self.describeError(m.content) }
        if resultStatus == "ok" { decodeResult(m.buffers) }
    }

    private mutating func decodeResult(_ bufs: [[UInt8]]) {
        guard let first = bufs.first else { return }
        do { result = try PickleReader.loads(first) } catch { resultNote = "result not decoded (\(error.message))" }
    }

    /// `ename: evalue`, then the traceback without terminal colours.
    static func describeError(_ c: JSON) -> String? {
        let ename = c["ename"]?.string ?? ""
        let evalue = c["evalue"]?.string ?? ""
        if ename.isEmpty && evalue.isEmpty { return nil }
        var s = ename + (evalue.isEmpty ? "" : ": " + evalue)
        if let tb = c["traceback"]?.array, !tb.isEmpty {
            s += "\n" + tb.compactMap { $0.string }.map(stripANSI).joined(separator: "\n")
        }
        return s
    }

    static func stripANSI(_ s: String) -> String {
        guard s.contains("\u{1B}") else { return s }
        var out = ""
        var it = s.unicodeScalars.makeIterator()
        while let u = it.next() {
            if u == "\u{1B}" {
                guard let n = it.next() else { break }
                if n == "[" {
                    while let c = it.next(), !(c.value >= 0x40 && c.value <= 0x7E) {}
                }
                continue
            }
            out.unicodeScalars.append(u)
        }
        return out
    }
}

/// What a task calls, decoded from its `apply_request` buffers: `[f, info, args…, kwargs…]`.
public struct TaskCall: Sendable, Equatable {
    /// The function's name (`square`; `subprocess.run` for ppdash's shell tasks).
    public var function: String
    /// Positional arguments, decoded where possible.
    public var args: [PickleValue]
    /// The shell command, when the call is ppdash's `subprocess.run(cmd, shell=True, ...)`.
    public var shellCommand: String?
    /// A chunk of `LoadBalancedView.map`: the result is a list, one element per item.
    public var isMapChunk = false

    public init(function: String, args: [PickleValue], shellCommand: String? = nil) {
        self.function = function
        self.args = args
        self.shellCommand = shellCommand
    }

    /// Decodes as much as it can; a function that cannot be read is shown as `?`.
    public init(buffers: [[UInt8]]) {
        let f = (try? PickleReader.loads(buffers[0])) ?? .none
        var args: [PickleValue] = []
        var nargs = 0
        if buffers.count > 1, let info = try? PickleReader.loads(buffers[1]) {
            nargs = info["nargs"]?.intValue ?? 0
            let narg = info["narg_bufs"]?.intValue ?? 0
            // Counts from the pickle: a negative one would make an invalid range.
            if narg == nargs, nargs >= 0 {
                // Only the buffers there are: a count near Int.max would loop for ever.
                for k in 0..<min(nargs, max(0, buffers.count - 2)) {
                    args.append((try? PickleReader.loads(buffers[2 + k])) ?? .global(module: "", name: "..."))
                }
            }
        }
        var name = Self.name(of: f)
        var isMap = false
        if name == "ipyparallel.client.remotefunction._map" || name == "_map", let inner = args.first {
            isMap = true
            // LoadBalancedView.map: `_map(f, *chunks)`; show f and the chunk's elements.
            name = Self.name(of: inner)
            args = Array(args.dropFirst())
            if args.count == 1, case .list(let chunk) = args[0], chunk.count == 1 { args = chunk }
        }
        if name == "subprocess.run", case .string(let cmd)? = args.first {
            self.init(function: name, args: args, shellCommand: cmd)
        } else {
            self.init(function: name, args: args)
        }
        isMapChunk = isMap
    }

    static func name(of f: PickleValue) -> String {
        switch f {
        case .global(let m, let n): return m == "builtins" || m == "__main__" ? n : m + "." + n
        case .object(let cls, _, _):
            if let n = f["__name__"]?.stringValue { return n }
            return String(cls.split(separator: ".").last ?? Substring(cls))
        case .none: return "?"
        default: return f.repr
        }
    }

    /// `square(3)`, or the shell command.
    public var text: String {
        if let shellCommand { return shellCommand }
        var s = function + "("
        for (i, a) in args.enumerated() {
            if i > 0 { s += ", " }
            if s.count > 160 {
                s += "..."
                break
            }
            s += a.repr
        }
        return s + ")"
    }
}
