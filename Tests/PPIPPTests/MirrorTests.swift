import PPKit
import PPSource
import Testing

@testable import PPIPP

@Suite("Mirror of a cluster")
struct MirrorTests {
    static let t0 = Timestamp(seconds: 1_800_000_000)

    static func record(
        _ id: String, session: String, at seconds: Double, label: String? = nil, function: String = "square",
        arg: Int = 0
    ) -> HubRecord {
        var r = HubRecord(msgId: id)
        r.session = session
        r.label = label
        r.submitted = t0.adding(seconds: seconds)
        r.call = TaskCall(function: function, args: [.int(arg)])
        return r
    }

    @Test("a batch is one session's burst; a pause or another session starts a new one; a label groups")
    func batchGrouping() {
        var m = IPPMirror(now: Self.t0)
        var recs: [HubRecord] = []
        for k in 0..<5 { recs.append(Self.record("a\(k)", session: "S1", at: Double(k) * 0.01, arg: k)) }
        recs.append(Self.record("b0", session: "S2", at: 0.02))
        for k in 0..<3 { recs.append(Self.record("c\(k)", session: "S1", at: 10 + Double(k) * 0.01)) }
        recs.append(Self.record("l0", session: "S1", at: 20, label: "nightly"))
        recs.append(Self.record("l1", session: "S3", at: 40, label: "nightly"))
        m.apply(records: recs.shuffled(), now: Self.t0.adding(seconds: 50))
        #expect(m.batches.count == 4)
        let byId = Dictionary(uniqueKeysWithValues: (0..<m.taskCount).map { (m.row(at: $0).msgId, m.row(at: $0)) })
        #expect(Set((0..<5).map { byId["a\($0)"]!.batch }).count == 1)
        #expect(byId["b0"]!.batch != byId["a0"]!.batch)
        #expect(byId["c0"]!.batch != byId["a0"]!.batch)
        #expect(byId["l0"]!.batch == byId["l1"]!.batch)
        #expect(m.batches[byId["a0"]!.batch - 1].size == 5)
        #expect(m.batches[byId["a0"]!.batch - 1].label == "square")
        #expect(m.batches[byId["l0"]!.batch - 1].label == "nightly")
        // Seq numbers follow submission order within a batch.
        #expect((0..<5).map { byId["a\($0)"]!.seq } == [1, 2, 3, 4, 5])
        #expect(m.totals.pending == 11)
    }

    @Test("records are deduplicated by msg_id; unknown() lists only new ones")
    func dedupe() {
        var m = IPPMirror(now: Self.t0)
        m.apply(records: [Self.record("x", session: "S", at: 0)], now: Self.t0)
        m.apply(records: [Self.record("x", session: "S", at: 0)], now: Self.t0)
        #expect(m.taskCount == 1)
        #expect(m.unknown(["x", "y"]) == ["y"])
    }

    @Test("engines, assignment, IOPub and results move a task through its states, counters follow")
    func lifecycle() {
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0", 1: "u1"], now: Self.t0)
        m.apply(records: [Self.record("t1", session: "S", at: 0), Self.record("t2", session: "S", at: 0.01)], now: Self.t0)
        m.applyAssigned([("t1", "u0"), ("t2", "u0")], now: Self.t0.adding(seconds: 1))
        #expect(m.row(msgId: "t1")?.status == .running)
        #expect(m.row(msgId: "t2")?.status == .pending)
        #expect(m.row(msgId: "t2")?.engine == 0)
        var snap = m.engineSnapshots(now: Self.t0.adding(seconds: 1))
        #expect(snap[0].state == .busy && snap[0].queued == 1)
        #expect(snap[1].state == .idle)

        m.apply(io: .stream(name: "stdout", text: "hello\n"), msgId: "t1", now: Self.t0)
        var done = HubRecord(msgId: "t1")
        done.engineUUID = "u0"
        done.started = Self.t0.adding(seconds: 1)
        done.completed = Self.t0.adding(seconds: 2)
        done.received = Self.t0.adding(seconds: 2.1)
        done.resultStatus = "ok"
        done.result = .int(9)
        m.apply(records: [done], now: Self.t0.adding(seconds: 2.2))
        #expect(m.row(msgId: "t1")?.status == .ok)
        #expect(m.row(msgId: "t1")?.stdout == "hello\n")
        #expect(m.maxReceived == done.received)
        #expect(m.totals.ok == 1)
        // IOPub says t2 started: it runs now.
        m.apply(io: .busy(engine: 0, at: Self.t0.adding(seconds: 2.3)), msgId: "t2", now: Self.t0.adding(seconds: 2.3))
        #expect(m.row(msgId: "t2")?.status == .running)
        #expect(m.row(msgId: "t2")?.started == Self.t0.adding(seconds: 2.3))

        // The engine dies: dead at once; the hub's EngineError reply fails the task later.
        m.engineUnregistered(id: 0, now: Self.t0.adding(seconds: 3))
        snap = m.engineSnapshots(now: Self.t0.adding(seconds: 3))
        #expect(!snap[0].state.isAlive)
        var failed = HubRecord(msgId: "t2")
        failed.engineUUID = "u0"
        failed.received = Self.t0.adding(seconds: 8)
        failed.resultStatus = "error"
        failed.error = "EngineError: Engine 0 died while running task 't2'"
        m.apply(records: [failed], now: Self.t0.adding(seconds: 8))
        #expect(m.row(msgId: "t2")?.status == .error)
        #expect(m.row(msgId: "t2")?.error?.hasPrefix("EngineError") == true)
        #expect(m.totals.ok == 1 && m.totals.error == 1 && m.totals.total == 2)
        #expect(m.batches[0].counts.done == 2)
        let e0 = m.engineSnapshots(now: Self.t0.adding(seconds: 9))[0]
        #expect(e0.done == 1 && e0.failed == 1)
        // A registration brings a new live engine; connection_reply without engine 1 marks it dead.
        m.setLiveEngines([2: "u2"], now: Self.t0.adding(seconds: 10))
        let states = m.engineSnapshots(now: Self.t0.adding(seconds: 10)).map { ($0.id, $0.state.isAlive) }
        #expect(states.map(\.0) == [0, 1, 2])
        #expect(states.map(\.1) == [false, false, true])
    }

    @Test("ppdash's own shell tasks: exit status from the CompletedProcess decides ok or error; retry reuses the row")
    func ownTasks() {
        var m = IPPMirror(now: Self.t0)
        let b = m.addOwnBatch(
            label: "exit {}", session: "me", tasks: [("m1", "exit 0", ["0"]), ("m2", "exit 3", ["3"])], now: Self.t0)
        #expect(b == 1 && m.taskCount == 2)
        func reply(_ id: String, code: Int) -> HubRecord {
            var r = HubRecord(msgId: id)
            r.resultStatus = "ok"
            r.received = Self.t0.adding(seconds: 1)
            r.result = .object(
                cls: "subprocess.CompletedProcess", args: [],
                state: .dict([
                    PickleEntry(.string("returncode"), .int(code)), PickleEntry(.string("stdout"), .string("o")),
                    PickleEntry(.string("stderr"), .string("e")),
                ]))
            return r
        }
        m.apply(records: [reply("m1", code: 0), reply("m2", code: 3)], now: Self.t0.adding(seconds: 1))
        #expect(m.row(msgId: "m1")?.status == .ok)
        #expect(m.row(msgId: "m2")?.status == .error)
        #expect(m.row(msgId: "m2")?.exitStatus == 3)
        #expect(m.row(msgId: "m2")?.stdout == "o")
        let meta = m.metadata(TaskID(2))
        #expect(meta?.msgId == "m2")
        #expect(meta?.exitStatus == 3)

        m.resubmitted(row: 1, newMsgId: "m3", now: Self.t0.adding(seconds: 2))
        #expect(m.row(msgId: "m3")?.status == .pending)
        #expect(m.row(msgId: "m3")?.retries == 1)
        #expect(m.unknown(["m2"]).isEmpty)
        #expect(m.totals.pending == 1 && m.totals.ok == 1 && m.totals.error == 0)
    }

    @Test("a snapshot's table window costs the window, not the table, in the default order")
    func window() {
        var m = IPPMirror(now: Self.t0)
        m.apply(
            records: (0..<1000).map { Self.record(String(format: "t%04d", $0), session: "S", at: Double($0) * 0.001) },
            now: Self.t0)
        var cache = IPPMirror.TableCache()
        let s = m.snapshot(TableQuery(offset: 990, limit: 20), now: Self.t0, source: "ipp x", cache: &cache)
        #expect(s.table.rows.count == 20)
        #expect(s.table.offset == 980)
        #expect(s.table.rows.first?.msgId == "t0980")
        #expect(cache.index == nil)
        let f = m.snapshot(TableQuery(filter: "t099", limit: 5), now: Self.t0, source: "", cache: &cache)
        #expect(f.table.matching == 10)
        #expect(f.source == "")
        let d = m.snapshot(TableQuery(sort: .text, ascending: false, limit: 3), now: Self.t0, source: "", cache: &cache)
        #expect(d.table.rows.map(\.msgId) == ["t0999", "t0998", "t0997"])
    }

    @Test("IOPub messages decode to task events; early ones wait for their row")
    func iopub() {
        var s = JupyterSession(key: "k")
        var busy = s.message("status", content: ["execution_state": "busy"], idents: [Array("engine.3.status".utf8)])
        busy.parent = ["msg_id": "late"]
        let e = IPPMirror.ioEvent(busy)
        #expect(e?.msgId == "late")
        guard case .busy(let engine, _)? = e?.event else {
            Issue.record("expected busy")
            return
        }
        #expect(engine == 3)
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([3: "u3"], now: Self.t0)
        m.apply(io: e!.event, msgId: "late", now: Self.t0)
        m.apply(io: .stream(name: "stderr", text: "warn\n"), msgId: "late", now: Self.t0)
        m.apply(records: [Self.record("late", session: "S", at: 0)], now: Self.t0)
        #expect(m.row(msgId: "late")?.status == .running)
        #expect(m.row(msgId: "late")?.engine == 3)
        #expect(m.row(msgId: "late")?.stderr == "warn\n")
    }

    @Test("a task seen first finished (an update record: no label, submitted or call) gets no row until its full record")
    func fastTaskWaitsForFullRecord() {
        var m = IPPMirror(now: Self.t0)
        var fin = HubRecord(msgId: "f1")
        fin.engineUUID = "u0"
        fin.started = Self.t0.adding(seconds: 0.5)
        fin.completed = Self.t0.adding(seconds: 1.4)
        fin.received = Self.t0.adding(seconds: 1.5)
        fin.resultStatus = "ok"
        // Before the fix this made a row and a batch labelled "tasks", submitted when seen: elapsed 0, 1000s/s.
        #expect(m.applyUpdates([fin], now: Self.t0.adding(seconds: 3)) == ["f1"])
        #expect(m.taskCount == 0 && m.batches.isEmpty)
        var full = Self.record("f1", session: "S", at: 0, label: "echo {}")
        full.received = fin.received
        full.resultStatus = "ok"
        m.apply(records: [full], now: Self.t0.adding(seconds: 3))
        #expect(m.applyUpdates([fin], now: Self.t0.adding(seconds: 3)).isEmpty)
        #expect(m.batches.count == 1)
        let b = m.batchSnapshot(m.batches[0], now: Self.t0.adding(seconds: 60))
        #expect(b.label == "echo {}")
        #expect(b.finished == Self.t0.adding(seconds: 1.5))
        #expect(abs(b.rate - 1 / 1.5) < 1e-6)
    }

    @Test("a gone controller shows every engine dead (unknown); lost tasks fail with the reason; it can come back")
    func controllerGone() {
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0"], now: Self.t0)
        _ = m.addOwnBatch(
            label: "sleep {}", session: "me", tasks: [("m1", "sleep 9", ["9"]), ("m2", "sleep 8", ["8"])], now: Self.t0)
        m.applyAssigned([("m1", "u0")], now: Self.t0.adding(seconds: 1))
        #expect(m.row(msgId: "m1")?.status == .running)

        m.setControllerGone("no reply for 10 s")
        var e = m.engineSnapshots(now: Self.t0.adding(seconds: 12))[0]
        guard case .dead(let why) = e.state else {
            Issue.record("engine not dead while the controller is gone: \(e.state)")
            return
        }
        #expect(why.contains("controller gone") && why.contains("no reply"))
        // Silent is not stopped: the tasks may still run; they stay as they were.
        #expect(m.totals.running == 1 && m.totals.pending == 1)
        m.setControllerGone(nil)
        e = m.engineSnapshots(now: Self.t0.adding(seconds: 13))[0]
        #expect(e.state == .busy)

        m.setControllerGone("cluster stopped")
        #expect(m.loseUnfinished(reason: "controller gone: cluster stopped", now: Self.t0.adding(seconds: 14)) == 2)
        #expect(m.totals.error == 2 && m.totals.pending == 0 && m.totals.running == 0)
        #expect(m.row(msgId: "m2")?.error == "controller gone: cluster stopped")
        #expect(m.batches[0].counts.done == 2)
        e = m.engineSnapshots(now: Self.t0.adding(seconds: 14))[0]
        #expect(e.currentTask == nil && e.queued == 0)
    }

    @Test("a new cluster in the old one's place: old tasks lost, old engines dead, new engines live, cutoffs reset")
    func clusterReplaced() {
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0", 1: "u1"], now: Self.t0)
        var done = Self.record("d", session: "S", at: 0)
        done.received = Self.t0.adding(seconds: 1)
        done.resultStatus = "ok"
        m.apply(records: [done, Self.record("p", session: "S", at: 0.1)], now: Self.t0.adding(seconds: 1))
        #expect(m.maxReceived != nil)
        m.setControllerGone("no reply for 10 s")
        m.clusterReplaced(reason: "controller gone: replaced", now: Self.t0.adding(seconds: 20))
        #expect(m.controllerGone == nil)
        #expect(m.row(msgId: "d")?.status == .ok)
        #expect(m.row(msgId: "p")?.status == .error)
        #expect(m.row(msgId: "p")?.error == "controller gone: replaced")
        #expect(m.maxReceived == nil && m.maxSubmitted == nil)
        #expect(m.engineSnapshots(now: Self.t0.adding(seconds: 20)).allSatisfy { !$0.state.isAlive })
        // The new hub's engine 0 is a new engine, alive.
        m.setLiveEngines([0: "n0"], now: Self.t0.adding(seconds: 21))
        let snap = m.engineSnapshots(now: Self.t0.adding(seconds: 21))
        #expect(snap.map(\.state.isAlive) == [true, false])
        #expect(m.engines[0]?.uuid == "n0")
    }

    @Test("lose(msgIds:) fails only the named unfinished tasks; JSON carries the controller's state and a batch's real elapsed and rate")
    func loseAndJSON() throws {
        var m = IPPMirror(now: Self.t0)
        _ = m.addOwnBatch(
            label: "echo {}", session: "me", tasks: [("a", "echo 1", ["1"]), ("b", "echo 2", ["2"])], now: Self.t0)
        var done = HubRecord(msgId: "a")
        done.received = Self.t0.adding(seconds: 2)
        done.resultStatus = "ok"
        m.apply(records: [done], now: Self.t0.adding(seconds: 2))
        #expect(m.lose(msgIds: ["a", "b", "nope"], reason: "lost: never sent", now: Self.t0.adding(seconds: 4)) == 1)
        #expect(m.row(msgId: "a")?.status == .ok)
        #expect(m.row(msgId: "a")?.label == "echo {}")
        #expect(m.row(msgId: "b")?.status == .error && m.row(msgId: "b")?.error == "lost: never sent")

        let info = try ConnectionInfo.parse(
            Array(#"{"registration":1,"task":2,"mux":3,"control":4,"iopub":5,"notification":6,"key":"k"}"#.utf8),
            path: "/x/ipcontroller-client.json")
        #expect(IPPJSON.controller(m, info: info).contains(#""state":"connected","reason":null"#))
        m.setControllerGone("cluster stopped")
        #expect(IPPJSON.controller(m, info: info).contains(#""state":"gone","reason":"cluster stopped""#))
        let doc = IPPJSON.document(m, info: info)
        #expect(doc.contains(#""controller_state":"gone","controller_gone":"cluster stopped""#))
        let batch = IPPJSON.batch(m.batches[0], mirror: m, now: Self.t0.adding(seconds: 100))
        // Submitted at t0, last result (the loss) at t0+4: 2 tasks in 4 s.
        #expect(batch.contains(#""label":"echo {}""#), "\(batch)")
        #expect(batch.contains(#""elapsed":4.0,"rate":0.5"#), "\(batch)")
    }

    static func io(_ s: inout JupyterSession, _ state: String, parent: String, session: String = "S", engine: Int = 0,
        submitted: Double = 0, at: Double, type: String = "apply_request") -> (msgId: String, event: IPPMirror.IOEvent, origin: IPPMirror.IOOrigin?)
    {
        var m = s.message("status", content: ["execution_state": .string(state)], idents: [Array("engine.\(engine).status".utf8)])
        if case .object(var h) = m.header {
            h["date"] = .string(t0.adding(seconds: at).iso8601)
            m.header = .object(h)
        }
        m.parent = [
            "msg_id": .string(parent), "session": .string(session), "msg_type": .string(type),
            "date": .string(t0.adding(seconds: submitted).iso8601),
        ]
        let e = IPPMirror.ioEvent(m)!
        return (e.msgId, e.event, IPPMirror.ioOrigin(m))
    }

    @Test("IOPub alone shows a task start and finish: its row comes from the parent header, done at idle")
    func iopubBornRows() {
        var s = JupyterSession(key: "k")
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0", 1: "u1"], now: Self.t0)
        // A control request's busy/idle is no task.
        let ctl = Self.io(&s, "busy", parent: "abort1", at: 0.5, type: "abort_request")
        m.apply(io: ctl.event, msgId: ctl.msgId, origin: ctl.origin, now: Self.t0)
        #expect(m.taskCount == 0)

        let busy = Self.io(&s, "busy", parent: "t1", submitted: 0.1, at: 1)
        m.apply(io: busy.event, msgId: busy.msgId, origin: busy.origin, now: Self.t0.adding(seconds: 1))
        #expect(m.row(msgId: "t1")?.status == .running)
        #expect(m.row(msgId: "t1")?.engine == 0)
        #expect(m.row(msgId: "t1")?.submitted == Self.t0.adding(seconds: 0.1))
        #expect(m.row(msgId: "t1")?.session == "S")
        #expect(m.engineSnapshots(now: Self.t0.adding(seconds: 1))[0].state == .busy)
        // IOPub rows do not move the cutoff of the hub query for waiting tasks (queued ones may be older).
        #expect(m.maxSubmitted == nil)
        let idle = Self.io(&s, "idle", parent: "t1", submitted: 0.1, at: 1.25)
        m.apply(io: idle.event, msgId: idle.msgId, origin: idle.origin, now: Self.t0.adding(seconds: 1.3))
        #expect(m.row(msgId: "t1")?.status == .ok)
        #expect(m.row(msgId: "t1")?.completed == Self.t0.adding(seconds: 1.25))
        #expect(m.engineSnapshots(now: Self.t0.adding(seconds: 1.3))[0].state == .idle)
        #expect(m.totals.ok == 1 && m.batches.count == 1 && m.batches[0].label == "tasks")

        // A failure: error then idle.
        let b2 = Self.io(&s, "busy", parent: "t2", submitted: 0.2, at: 2)
        m.apply(io: b2.event, msgId: b2.msgId, origin: b2.origin, now: Self.t0.adding(seconds: 2))
        m.apply(io: .error("ZeroDivisionError: division by zero"), msgId: "t2", now: Self.t0.adding(seconds: 2))
        let i2 = Self.io(&s, "idle", parent: "t2", submitted: 0.2, at: 2.1)
        m.apply(io: i2.event, msgId: i2.msgId, origin: i2.origin, now: Self.t0.adding(seconds: 2.1))
        #expect(m.row(msgId: "t2")?.status == .error)
        // Busy again on another engine: the scheduler retries it under the same msg_id.
        let r2 = Self.io(&s, "busy", parent: "t2", engine: 1, submitted: 0.2, at: 3)
        m.apply(io: r2.event, msgId: r2.msgId, origin: r2.origin, now: Self.t0.adding(seconds: 3))
        #expect(m.row(msgId: "t2")?.status == .running && m.row(msgId: "t2")?.retries == 1)
        #expect(m.row(msgId: "t2")?.engine == 1 && m.row(msgId: "t2")?.error == nil)
        #expect(m.totals.error == 0 && m.totals.running == 1)

        // The hub's record names the call (and the batch) and confirms or corrects the status: aborted, not ok.
        var rec = Self.record("t1", session: "S", at: 0.1, function: "noop", arg: 7)
        rec.received = Self.t0.adding(seconds: 1.4)
        rec.resultStatus = "aborted"
        m.apply(records: [rec], now: Self.t0.adding(seconds: 1.5))
        #expect(m.row(msgId: "t1")?.text == "noop(7)")
        #expect(m.row(msgId: "t1")?.status == .aborted)
        #expect(m.batches.count == 1 && m.batches[0].label == "noop")
        #expect(m.maxReceived == rec.received)
        // Once the record decided, IOPub no longer reopens it.
        let late = Self.io(&s, "busy", parent: "t1", submitted: 0.1, at: 5)
        m.apply(io: late.event, msgId: late.msgId, origin: late.origin, now: Self.t0.adding(seconds: 5))
        #expect(m.row(msgId: "t1")?.status == .aborted)
    }

    @Test("ppdash's own shell tasks are not finished at idle: their exit status is in the reply")
    func ownTasksWaitForReply() {
        var s = JupyterSession(key: "k")
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0"], now: Self.t0)
        _ = m.addOwnBatch(label: "exit 3", session: "me", tasks: [("o1", "exit 3", [])], now: Self.t0)
        let b = Self.io(&s, "busy", parent: "o1", session: "me", at: 1)
        m.apply(io: b.event, msgId: b.msgId, origin: b.origin, now: Self.t0.adding(seconds: 1))
        let i = Self.io(&s, "idle", parent: "o1", session: "me", at: 1.1)
        m.apply(io: i.event, msgId: i.msgId, origin: i.origin, now: Self.t0.adding(seconds: 1.1))
        #expect(m.row(msgId: "o1")?.status == .running)
        #expect(m.taskCount == 1)
    }

    @Test("a task row holds little: the row's stride is bounded (1 KB per mirrored task in all)")
    func rowSize() {
        #expect(MemoryLayout<IPPMirror.Row>.stride <= 512, "\(MemoryLayout<IPPMirror.Row>.stride)")
    }

    @Test("one labelled submission is one batch, whether IOPub or the hub's record shows a task first")
    func labelledBurstOneBatch() {
        for iopubFirst in [true, false] {
            var s = JupyterSession(key: "k")
            var m = IPPMirror(now: Self.t0)
            m.setLiveEngines([0: "u0"], now: Self.t0)
            let b = Self.io(&s, "busy", parent: "a", session: "P", submitted: 0.01, at: 0.5)
            if iopubFirst { m.apply(io: b.event, msgId: b.msgId, origin: b.origin, now: Self.t0.adding(seconds: 0.5)) }
            m.apply(records: [Self.record("c", session: "P", at: 0.03, label: "echo {}")], now: Self.t0.adding(seconds: 1))
            if !iopubFirst { m.apply(io: b.event, msgId: b.msgId, origin: b.origin, now: Self.t0.adding(seconds: 1)) }
            #expect(m.batches.count == 1, "iopubFirst \(iopubFirst): \(m.batches.map(\.label))")
            #expect(m.batches.first?.label == "echo {}" && m.batches.first?.size == 2)
        }
    }
}
