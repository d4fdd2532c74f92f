import PPKit
import PPSource
import Testing

@testable import PPIPP

/// The triage view over an ipyparallel cluster: the mirror lists its failed tasks, grouped as the others are.
@Suite("Mirror failure triage")
struct MirrorTriageTests {
    static let t0 = MirrorTests.t0

    /// A finished shell task of ppdash's own: the hub's reply with a CompletedProcess of `code` (negative: a signal).
    static func shellReply(_ id: String, engine: String, code: Int, stderr: String) -> HubRecord {
        var r = HubRecord(msgId: id)
        r.engineUUID = engine
        r.resultStatus = "ok"
        r.started = t0.adding(seconds: 1)
        r.completed = t0.adding(seconds: 2)
        r.received = t0.adding(seconds: 2)
        r.result = .object(
            cls: "subprocess.CompletedProcess", args: [],
            state: .dict([
                PickleEntry(.string("returncode"), .int(code)), PickleEntry(.string("stdout"), .string("")),
                PickleEntry(.string("stderr"), .string(stderr)),
            ]))
        return r
    }

    @Test("failed tasks grouped by exit status, signal, Python error and lost controller, with their engines; ok ones left out")
    func failureGroups() throws {
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0", 1: "u1"], now: Self.t0)
        let shell: [(msgId: String, command: String, args: [String])] = (1...6).map { k in ("s\(k)", "job \(k)", ["\(k)"]) }
        _ = m.addOwnBatch(label: "job {}", session: "me", tasks: shell, now: Self.t0)
        // Python tasks of another client: one ZeroDivisionError, one ok.
        m.apply(
            records: [
                MirrorTests.record("p1", session: "S", at: 0.5), MirrorTests.record("p2", session: "S", at: 0.6),
            ], now: Self.t0.adding(seconds: 0.6))
        m.applyAssigned(
            [("s1", "u0"), ("s2", "u1"), ("s3", "u0"), ("s4", "u1"), ("s5", "u0"), ("p1", "u1"), ("p2", "u0")],
            now: Self.t0.adding(seconds: 1))
        m.apply(
            records: [
                Self.shellReply("s1", engine: "u0", code: 0, stderr: ""),
                Self.shellReply("s2", engine: "u1", code: 3, stderr: "\n  cannot open input.3  \nsecond line\n"),
                Self.shellReply("s3", engine: "u0", code: 3, stderr: "cannot open input.3\n"),
                Self.shellReply("s4", engine: "u1", code: 3, stderr: "cannot open input.3\n"),
                Self.shellReply("s5", engine: "u0", code: -9, stderr: ""),
            ], now: Self.t0.adding(seconds: 2))
        var err = HubRecord(msgId: "p1")
        err.engineUUID = "u1"
        err.resultStatus = "error"
        err.received = Self.t0.adding(seconds: 3)
        err.error = "ZeroDivisionError: division by zero"
        var ok = HubRecord(msgId: "p2")
        ok.engineUUID = "u0"
        ok.resultStatus = "ok"
        ok.received = Self.t0.adding(seconds: 3)
        ok.result = .int(4)
        m.apply(records: [err, ok], now: Self.t0.adding(seconds: 3))
        // s6 never ran: the controller goes away and it is lost.
        m.setControllerGone("cluster stopped")
        #expect(m.loseUnfinished(reason: "controller gone: cluster stopped", now: Self.t0.adding(seconds: 4)) == 1)

        let records = m.failureRecords()
        // Tasks are numbered by row, as the table and the detail view number them.
        let ids = records.map(\.task.rawValue)
        #expect(ids == [2, 3, 4, 5, 6, 7], "\(records)")
        #expect(records.allSatisfy { m.row(at: $0.task.rawValue - 1).status.isFailure })
        let groups = Triage.groups(records)
        try #require(groups.count == 4, "\(groups)")
        #expect(groups[0].reason == "exit 3")
        #expect(groups[0].firstLine == "cannot open input.3")
        #expect(groups[0].tasks.map(\.rawValue) == [2, 3, 4])
        #expect(groups[0].enginesText == "e1×2 e0×1")
        #expect(groups[1].reason == "signal 9 (KILL)")
        #expect(groups[1].tasks.map(\.rawValue) == [5])
        #expect(groups[1].enginesText == "e0×1")
        // Ties by the oldest task: s6 (row 6) before p1 (row 7).
        #expect(groups[2].firstLine == "controller gone: cluster stopped")
        #expect(groups[2].tasks.map(\.rawValue) == [6])
        #expect(groups[2].enginesText == "-")
        #expect(groups[3].reason == "error")
        #expect(groups[3].firstLine == "ZeroDivisionError: division by zero")
        #expect(groups[3].tasks.map(\.rawValue) == [7])
        // Enter lists a group's tasks through the table filter: exactly those rows.
        #expect(Triage.filter(for: groups[0]) == "#2,3,4")
    }

    @Test("a huge stderr: the first line is read from its head, cut to the limit")
    func hugeStderr() {
        var m = IPPMirror(now: Self.t0)
        m.setLiveEngines([0: "u0"], now: Self.t0)
        _ = m.addOwnBatch(label: "big", session: "me", tasks: [("b1", "big", [])], now: Self.t0)
        m.applyAssigned([("b1", "u0")], now: Self.t0.adding(seconds: 1))
        let long = String(repeating: "x", count: 200_000) + "\nnext\n"
        m.apply(records: [Self.shellReply("b1", engine: "u0", code: 1, stderr: long)], now: Self.t0.adding(seconds: 2))
        let r = m.failureRecords()
        #expect(r.count == 1)
        #expect(r.first?.firstLine.count == FailureRecord.lineLimit)
        #expect(r.first?.firstLine.hasSuffix("…") == true)
        #expect(r.first?.exitStatus == 1)
    }
}
