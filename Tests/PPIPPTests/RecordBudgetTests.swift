import PPKit
import Testing

@testable import PPIPP

/// During a flood of tasks seen on IOPub first, ppdash asks the hub for their records under a budget (each record
/// costs the hub a deep copy), and catches up with the full queries once the flood is over.
@Suite("Record budget")
struct RecordBudgetTests {
    @Test("no flood: the full queries every cycle")
    func calm() {
        var b = RecordBudget()
        #expect(b.plan(now: 100, newPending: 0, backlog: 0) == .full)
        // 10 tasks/s first seen on IOPub: below the flood rate (40/s).
        for k in 1...20 { #expect(b.plan(now: 100 + Double(k) * 0.5, newPending: 5, backlog: 5) == .full) }
        #expect(!b.inFlood)
    }

    @Test("a flood: at most perSecond records a second by msg_id, the waiting query every waitingEvery seconds")
    func flood() {
        var b = RecordBudget()
        _ = b.plan(now: 0, newPending: 0, backlog: 0)
        var fetched = 0
        var waitingAt: [Double] = []
        var backlog = 0
        // 400 tasks/s for 60 s, a cycle every 0.5 s.
        for k in 1...120 {
            let now = Double(k) * 0.5
            backlog += 200
            guard case .flood(let fetch, let waiting) = b.plan(now: now, newPending: 200, backlog: backlog) else {
                Issue.record("cycle \(k) not a flood")
                return
            }
            #expect(fetch <= backlog)
            fetched += fetch
            backlog -= fetch
            if waiting {
                waitingAt.append(now)
                b.spend(10)  // the waiting query brought 10 records
            }
        }
        // 60 s at 40/s, plus the bucket's first 40; the waiting queries' 10 records each are charged too.
        #expect(fetched + 10 * waitingAt.count <= 40 * 60 + 40)
        #expect(fetched >= 40 * 60 - 40 * 2 - 10 * waitingAt.count)
        #expect(waitingAt.first == 0.5)
        #expect(zip(waitingAt, waitingAt.dropFirst()).allSatisfy { $1 - $0 >= 5 })
        #expect(waitingAt.count >= 11)
    }

    @Test("--records all never budgets; --records 0 asks none by msg_id in a flood; a fractional rate still fetches")
    func rates() {
        // 400 tasks/s first seen on IOPub for 20 s, a cycle every 0.5 s.
        func fetched(_ budget: RecordBudget) -> (fetched: Int, full: Int) {
            var b = budget
            _ = b.plan(now: 0, newPending: 0, backlog: 0)
            var fetched = 0
            var full = 0
            for k in 1...40 {
                switch b.plan(now: Double(k) * 0.5, newPending: 200, backlog: 200 * k) {
                case .full: full += 1
                case .flood(let n, _): fetched += n
                }
            }
            return (fetched, full)
        }
        #expect(fetched(.unlimited) == (0, 40))
        #expect(fetched(RecordBudget(perSecond: 0)) == (0, 0))
        // 0.5 a second: one record every 2 s (the bucket holds at least one).
        let half = fetched(RecordBudget(perSecond: 0.5))
        #expect(half.full == 0 && (9...11).contains(half.fetched), "\(half)")
        let many = fetched(RecordBudget(perSecond: 1_000))
        #expect(many.full == 0 && many.fetched >= 19_000, "\(many)")
    }

    @Test("a waiting query that brought many records puts the budget in debt: no fetch, no waiting query until repaid")
    func debt() {
        var b = RecordBudget()
        _ = b.plan(now: 0, newPending: 0, backlog: 0)
        #expect(b.plan(now: 0.5, newPending: 200, backlog: 200) == .flood(fetch: 40, waiting: true))
        b.spend(400)
        // 400 records at 40/s: 10 s of debt, during which nothing is asked, even when a waiting query is due.
        var now = 0.5
        var plans: [RecordBudget.Plan] = []
        while now < 10.5 {
            now += 0.5
            plans.append(b.plan(now: now, newPending: 200, backlog: 1000))
        }
        #expect(plans.dropLast().allSatisfy { $0 == .flood(fetch: 0, waiting: false) }, "\(plans)")
        // Repaid at 10.5 s: the waiting query (due since 5.5 s) goes first, fetches follow.
        #expect(plans.last == .flood(fetch: 0, waiting: true))
        #expect(b.plan(now: now + 0.5, newPending: 200, backlog: 1000) == .flood(fetch: 20, waiting: false))
    }

    @Test("the flood ends after calmFor seconds below the rate, not at the first lull between waves")
    func hysteresis() {
        var b = RecordBudget()
        _ = b.plan(now: 0, newPending: 0, backlog: 0)
        #expect(b.plan(now: 0.5, newPending: 100, backlog: 100) != .full)
        // A lull of 1.5 s (less than calmFor, 2 s): still a flood.
        for now in [1.0, 1.5, 2.0] { #expect(b.plan(now: now, newPending: 0, backlog: 100) != .full) }
        #expect(b.plan(now: 2.5, newPending: 100, backlog: 150) != .full)
        // Calm from 3.0: the flood is over 2 s later.
        var full: Double?
        var now = 2.5
        while full == nil, now < 10 {
            now += 0.5
            if b.plan(now: now, newPending: 1, backlog: 150) == .full { full = now }
        }
        #expect(full == 5.0)
        #expect(!b.inFlood)
    }

    @Test("the budget is not negative nor NaN with clocks going backwards or huge counts")
    func edges() {
        var b = RecordBudget()
        _ = b.plan(now: 10, newPending: 0, backlog: 0)
        #expect(b.plan(now: 5, newPending: Int.max, backlog: Int.max) == .full)  // no time passed: no rate
        guard case .flood(let fetch, _) = b.plan(now: 5.5, newPending: 1_000_000, backlog: Int.max) else {
            Issue.record("not a flood")
            return
        }
        #expect(fetch >= 0 && fetch <= 40)
        b.refund(1_000_000)
        #expect(b.tokens <= b.burst)
    }

    @Test("rows first seen on IOPub wait for their record, oldest first; the record or the hub's loss of it settles them")
    func mirrorBacklog() {
        var m = IPPMirror(now: MirrorTests.t0)
        let origin = IPPMirror.IOOrigin(session: "s1", submitted: MirrorTests.t0, isTask: true)
        for k in 0..<10 {
            m.apply(io: .busy(engine: nil, at: MirrorTests.t0), msgId: "t\(k)", origin: origin, now: MirrorTests.t0)
        }
        #expect(m.ioRowsCreated == 10 && m.recordBacklog == 10)
        #expect(m.row(msgId: "t0")?.callText == "(record pending)")
        #expect(m.recordPendingIds(limit: 3) == ["t0", "t1", "t2"])
        #expect(m.recordPendingIds(limit: 2, fromRow: 5) == ["t5", "t6"])
        // t0's record arrives (full keys: it names the call); t1 is gone from the hub.
        var rec = HubRecord(msgId: "t0")
        rec.submitted = MirrorTests.t0
        rec.call = TaskCall(function: "noop", args: [.int(1)])
        m.apply(records: [rec], now: MirrorTests.t0)
        m.recordsGone(["t1", "t1", "nope"])
        #expect(m.recordBacklog == 8)
        #expect(m.row(msgId: "t0")?.callText == "noop(1)")
        #expect(m.row(msgId: "t1")?.callText == "(no record: the hub dropped it)")
        // --json and --follow: the call is null while not known, and `record` says why; a known call has no note.
        func json(_ id: String) -> String { IPPJSON.task(m.row(msgId: id)!, index: 0) }
        #expect(json("t0").contains(#""call":"noop(1)","record":null"#), "\(json("t0"))")
        #expect(json("t1").contains(#""call":null,"record":"dropped""#), "\(json("t1"))")
        #expect(json("t2").contains(#""call":null,"record":"pending""#), "\(json("t2"))")
        #expect(m.recordPendingIds(limit: 3) == ["t2", "t3", "t4"])
        // A reply to ppdash's own task (no submission time) is not the hub's record.
        var reply = HubRecord(msgId: "t2")
        reply.resultStatus = "ok"
        m.apply(records: [reply], now: MirrorTests.t0)
        #expect(m.row(msgId: "t2")?.recordPending == true)
        #expect(m.recordPendingIds(limit: 1, submittedBefore: MirrorTests.t0).isEmpty)
        // After the flood, the hub returned every result it holds: t3, finished on IOPub before then and not
        // returned, is gone; t4, still running, waits.
        m.apply(io: .idle(engine: nil, at: MirrorTests.t0), msgId: "t3", now: MirrorTests.t0)
        #expect(m.recordsGone(finishedBefore: MirrorTests.t0.adding(seconds: 1)) == 1)
        #expect(m.row(msgId: "t3")?.recordGone == true && m.row(msgId: "t4")?.recordPending == true)
        #expect(m.recordBacklog == 7)
    }
}
