import PPKit

/// `ppdash ipp --json` and `--follow` output: engines, batches and every task record, keys in a fixed order.
public enum IPPJSON {
    /// One engine as a JSON object.
    public static func engine(_ e: IPPMirror.Engine, mirror m: IPPMirror, event: Bool = false) -> String {
        var o = JSONObjectWriter()
        if event { o.add("event", "engine") }
        o.add("id", e.id)
        o.add("uuid", e.uuid.isEmpty ? nil : e.uuid)
        let state = m.engineState(e)
        o.add("state", state.label)
        if case .dead(let reason) = state { o.add("reason", reason) } else { o.add("reason", nil as String?) }
        o.add("current_task", e.current.map { m.row(at: $0).msgId })
        o.add("queued", max(0, e.assigned.count - (e.current == nil ? 0 : 1)))
        o.add("done", e.done)
        o.add("failed", e.failed)
        return o.finish()
    }

    /// One task as a JSON object: full msg_id, engine, timestamps, status, result and outputs.
    public static func task(_ i: Int, mirror m: IPPMirror, event: Bool = false) -> String {
        task(m.row(at: i), index: i, event: event)
    }

    /// One task as a JSON object, from a copy of its row (`index` is its position in the mirror), so the line can be
    /// made outside the mirror's lock.
    public static func task(_ r: IPPMirror.Row, index i: Int, event: Bool = false) -> String {
        var o = JSONObjectWriter()
        if event { o.add("event", "task") }
        o.add("msg_id", r.msgId)
        o.add("id", i + 1)
        o.add("batch", r.batch)
        o.add("seq", r.seq)
        o.add("engine", r.engine)
        o.add("engine_uuid", r.engineUUID)
        o.add("status", r.status.description)
        o.add("submitted", iso8601: r.submitted.microseconds)
        o.add("started", iso8601: r.started?.microseconds)
        o.add("completed", iso8601: r.completed?.microseconds)
        o.add("received", iso8601: r.received?.microseconds)
        o.add("duration", r.started.flatMap { s in r.completed.map { (s.seconds(to: $0) * 1e6).rounded() / 1e6 } })
        o.add("queue", r.queue)
        o.add("session", r.session)
        o.add("label", r.label)
        // A call not known yet is null, and `record` says why (`pending` or `dropped`); null once the record came.
        let record = r.recordState
        o.add("call", record == nil ? r.text : nil)
        o.add("record", record?.rawValue)
        o.add("command", r.command)
        o.add("exit", r.exitStatus.map(Int.init))
        o.add("signal", r.signal.map(Int.init))
        o.add("result", r.result?.json ?? .null)
        o.add("result_note", r.resultNote)
        o.add("retries", r.retries)
        o.add("stdout", r.stdout)
        o.add("stderr", r.stderr)
        o.add("error", r.error)
        return o.finish()
    }

    /// One batch as a JSON object: `elapsed` runs from its first submission to its last result (to `now` while
    /// unfinished), `rate` is finished tasks per second over it.
    public static func batch(_ b: IPPMirror.Batch, mirror m: IPPMirror, now: Timestamp) -> String {
        let snap = m.batchSnapshot(b, now: now)
        var o = JSONObjectWriter()
        o.add("id", b.id)
        o.add("label", b.label)
        o.add("session", b.session)
        o.add("total", b.size)
        o.add("done", b.counts.done)
        o.add("ok", b.counts.ok)
        o.add("failed", b.counts.failed)
        o.add("submitted", iso8601: b.first.microseconds)
        o.add("finished", snap.finished?.iso8601)
        o.add("elapsed", (b.first.seconds(to: snap.finished ?? now) * 1e6).rounded() / 1e6)
        o.add("rate", (snap.rate * 1000).rounded() / 1000)
        return o.finish()
    }

    /// The controller's state as a `--follow` event: `connected`, or `gone` with the reason.
    public static func controller(_ m: IPPMirror, info: ConnectionInfo) -> String {
        var o = JSONObjectWriter()
        o.add("event", "controller")
        o.add("controller", info.controllerURL)
        o.add("state", m.controllerGone == nil ? "connected" : "gone")
        o.add("reason", m.controllerGone)
        return o.finish()
    }

    /// The whole state as one JSON document.
    public static func document(_ m: IPPMirror, info: ConnectionInfo) -> String {
        var o = JSONObjectWriter()
        o.add("controller", info.controllerURL)
        o.add("connection_file", info.path)
        o.add("controller_state", m.controllerGone == nil ? "connected" : "gone")
        o.add("controller_gone", m.controllerGone)
        var counts = JSONObjectWriter()
        for s in TaskStatus.allCases { counts.add(s.description, m.totals[s]) }
        counts.add("total", m.totals.total)
        o.addRaw("totals", counts.finish())
        o.addRaw("engines", "[" + m.engines.keys.sorted().map { engine(m.engines[$0]!, mirror: m) }.joined(separator: ",") + "]")
        let now = SystemClock().now()
        o.addRaw("batches", "[" + m.batches.map { batch($0, mirror: m, now: now) }.joined(separator: ",") + "]")
        var tasks = "["
        for i in 0..<m.taskCount {
            if i > 0 { tasks += ",\n" }
            tasks += task(i, mirror: m)
        }
        o.addRaw("tasks", tasks + "]")
        return o.finish()
    }
}
