// GNU parallel's job-control rules, pure: --halt's forms and thresholds, the exit status, the joblog's lines,
// --results' names, -j's arithmetic; and the scheduler halting a batch at a threshold.
import Foundation
import Testing

@testable import PPKit

@Suite("GNU parallel job control: pure rules")
struct GNUJobControlTests {
    @Test("--halt: every GNU form parses to when and condition; bad forms say why")
    func haltForms() throws {
        func p(_ s: String) throws -> String {
            let (when, c) = try HaltCondition.parse(s)
            return (when?.rawValue ?? "never") + (c.map { "," + $0.text } ?? "")
        }
        #expect(try p("now") == "now")
        #expect(try p("soon") == "soon")
        #expect(try p("never") == "never")
        #expect(try p("0") == "never")
        #expect(try p("1") == "soon,fail=1")
        #expect(try p("2") == "now,fail=1")
        #expect(try p("-1") == "soon,success=1")
        #expect(try p("-2") == "now,success=1")
        #expect(try p("20%") == "soon,fail=20%")
        #expect(try p("now,fail=3") == "now,fail=3")
        #expect(try p("soon,success=50%") == "soon,success=50%")
        #expect(try p("now,done=2") == "now,done=2")
        for bad in ["", "sometimes", "now,fail", "now,fail=x", "now,fail=-1", "now,fail=101%", "now,oops=1", "never,fail=1", "now,fail=+1"] {
            #expect(throws: SweepError.self, "\(bad)") { try HaltCondition.parse(bad) }
        }
    }

    @Test("thresholds: a count, a percentage of the batch (GNU: total * pct, compared with >=); 0 never fires")
    func thresholds() {
        var c = StatusCounts()
        c.error = 2
        c.ok = 3
        #expect(HaltCondition(.fail, .count(2)).reached(c, total: 10))
        #expect(!HaltCondition(.fail, .count(3)).reached(c, total: 10))
        #expect(HaltCondition(.fail, .percent(20)).reached(c, total: 10))
        #expect(!HaltCondition(.fail, .percent(21)).reached(c, total: 10))
        #expect(HaltCondition(.success, .count(3)).reached(c, total: 10))
        #expect(HaltCondition(.done, .percent(50)).reached(c, total: 10))
        #expect(!HaltCondition(.fail, .count(0)).reached(c, total: 10))
        #expect(!HaltCondition(.fail, .percent(0)).reached(c, total: 10))
    }

    @Test("exit status without --halt: the number of failures, 101 past 100")
    func exitCount() {
        var e = GNUExitStatus(halting: false, condition: nil)
        #expect(e.status == 0)
        for _ in 0..<3 { e.record(failed: true, exitStatus: 1, signal: nil, total: 200) }
        e.record(failed: false, exitStatus: 0, signal: nil, total: 200)
        #expect(e.status == 3)
        for _ in 0..<100 { e.record(failed: true, exitStatus: 1, signal: nil, total: 200) }
        #expect(e.status == 101)
    }

    @Test("exit status with --halt: fail=1 the task's status (128+signal), fail=N the count, N% the percentage, success 0")
    func exitHalt() {
        var one = GNUExitStatus(halting: true, condition: nil)
        one.record(failed: false, exitStatus: 0, signal: nil, total: 5)
        one.record(failed: true, exitStatus: 7, signal: nil, total: 5)
        one.record(failed: true, exitStatus: 9, signal: nil, total: 5)  // after the halt: not counted in the status
        #expect(one.status == 7)
        var sig = GNUExitStatus(halting: true, condition: HaltCondition(.fail, .count(1)))
        sig.record(failed: true, exitStatus: nil, signal: 9, total: 5)
        #expect(sig.status == 137)
        var two = GNUExitStatus(halting: true, condition: HaltCondition(.fail, .count(2)))
        for s in [0, 3, 4, 5] as [Int32] { two.record(failed: s != 0, exitStatus: s, signal: nil, total: 5) }
        #expect(two.status == 2, "frozen when it fired")
        var pct = GNUExitStatus(halting: true, condition: HaltCondition(.fail, .percent(50)))
        for s in [0, 3, 0, 4, 5] as [Int32] { pct.record(failed: s != 0, exitStatus: s, signal: nil, total: 6) }
        #expect(pct.status == 50)
        var ok = GNUExitStatus(halting: true, condition: HaltCondition(.success, .count(1)))
        ok.record(failed: true, exitStatus: 3, signal: nil, total: 3)
        ok.record(failed: false, exitStatus: 0, signal: nil, total: 3)
        #expect(ok.status == 0)
        var never = GNUExitStatus(halting: true, condition: HaltCondition(.fail, .count(5)))
        never.record(failed: true, exitStatus: 3, signal: nil, total: 3)
        #expect(never.status == 1, "not fired: the failures counted")
    }

    @Test("joblog lines: GNU parallel's columns and number formats; parse and the resume sets")
    func joblogLines() {
        let e = Joblog.Entry(
            seq: 12, host: ":", start: 1_796_207_273.6004, runtime: 0.0125, receive: 2, exitval: 1, signal: 0, command: "echo 1; exit 1")
        #expect(Joblog.line(e) == "12\t:\t1796207273.600\t     0.013\t0\t2\t1\t0\techo 1; exit 1\n")
        #expect(Joblog.header == "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n")
        let text = Joblog.header + Joblog.line(e) + "3\t:\t1.000\t     1.000\t0\t0\t0\t9\tkill\n"
            + "4\t:\t1.000\t     1.000\t0\t0\t0\t0\tok\n" + "12\t:\t2.000\t     1.000\t0\t0\t0\t0\tagain\n" + "5\t:\t1.0"
        let parsed = Joblog.parse(text)
        #expect(parsed == [12: true, 3: false, 4: true], "the last line of a Seq wins; a torn line is skipped")
        #expect(Joblog.skipped(parsed, failedToo: false) == [3, 4, 12])
        #expect(Joblog.skipped(parsed, failedToo: true) == [4, 12])
    }

    @Test("--results names: \\ \\t NUL and / quoted as GNU parallel does; long names cut")
    func resultsNames() {
        #expect(ResultsLayout.escape("x/y") == "x\\_y")
        #expect(ResultsLayout.escape("a\\b") == "a\\\\b")
        #expect(ResultsLayout.escape("a\tb") == "a\\tb")
        #expect(ResultsLayout.escape(String(repeating: "z", count: 300)).utf8.count == 255)
        #expect(ResultsLayout.directory(root: "R", args: ["a", "", "b c"]) == "R/1/a/2//3/b c")
    }

    @Test("-j: N, N%, +N, -N, 0; at least 1; bad forms nil")
    func jobs() {
        #expect(GNUJobs.count("3", cores: 8) == 3)
        #expect(GNUJobs.count("50%", cores: 8) == 4)
        #expect(GNUJobs.count("10%", cores: 2) == 1)
        #expect(GNUJobs.count("200%", cores: 2) == 4)
        #expect(GNUJobs.count("+2", cores: 8) == 10)
        #expect(GNUJobs.count("-2", cores: 8) == 6)
        #expect(GNUJobs.count("-20", cores: 8) == 1)
        #expect(GNUJobs.count("0", cores: 8) == GNUJobs.asMany)
        for bad in ["", "x", "+", "-%", "+5%", "1.5", "--1", "٣", "99999999"] { #expect(GNUJobs.count(bad, cores: 8) == nil, "\(bad)") }
    }
}

@Suite("halt thresholds in the scheduler")
struct HaltThresholdTests {
    struct Boom: Error {}

    @Test("soon,fail=3: the batch stops after its third failure (tasks already handed out may finish)")
    func failThree() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.flags.halt = .soon
        view.flags.haltOn = HaltCondition(.fail, .count(3))
        let ar = try view.mapAsync({ (x: Int) throws -> Int in throw Boom() }, 0..<1000)
        #expect(ar.wait(timeout: 30))
        let statuses = ar.metadata.map(\.status)
        let errors = statuses.filter { $0 == .error }.count
        // One engine: at most two tasks queued on it when the third failure is recorded.
        #expect(errors >= 3 && errors <= 5, "\(errors) failures")
        #expect(statuses.filter { $0 == .aborted }.count == 1000 - errors)
    }

    @Test("soon,success=50%: stops once half the batch succeeded; failures alone never stop it")
    func successPercent() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.flags.halt = .soon
        view.flags.haltOn = HaltCondition(.success, .percent(50))
        let ar = try view.mapAsync({ (x: Int) throws -> Int in
            if x < 10 { throw Boom() }
            return x
        }, 0..<40)
        #expect(ar.wait(timeout: 30))
        let statuses = ar.metadata.map(\.status)
        #expect(statuses.prefix(10).allSatisfy { $0 == .error }, "10 failures did not stop it")
        let ok = statuses.filter { $0 == .ok }.count
        #expect(ok >= 20 && ok <= 22, "\(ok) succeeded")
        #expect(statuses.filter { $0 == .aborted }.count == 30 - ok)
    }
}
