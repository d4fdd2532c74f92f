import Foundation
import Testing

@testable import PPKit

/// The per-task work of the dispatch and completion path, counted (never timed): what the no-op rate with 4 and
/// with 1,000 in-process engines rests on.
@Suite("Dispatch cost per task: one picker sync, one shared context, no cast for the common values")
struct DispatchCostTests {
    @Test("a no-op batch on 4 in-process engines syncs the picker about once per task, not twice")
    func oneSyncPerTask() throws {
        let client = Client(engines: 4)
        defer { client.shutdown() }
        let n = 20_000
        let before = client.scheduler.state.withLock { $0.picker.syncs }
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        #expect(ar.wait(timeout: 120))
        #expect(client.scheduler.totals.ok == n)
        let syncs = client.scheduler.state.withLock { $0.picker.syncs } - before
        // One at each completion's dispatch (the released engine, and the one started at the hand-back before it);
        // the sync after the hand-back's assignment is skipped (the one free engine is full). Two per task before.
        #expect(syncs >= n / 2, "\(syncs) syncs for \(n) tasks: the count is no longer kept")
        #expect(Double(syncs) <= Double(n) * 1.1 + 100, "\(syncs) picker syncs for \(n) tasks")
        #expect(client.scheduler.handedBack >= n - 4 * 50)
    }

    @Test("every task of a batch is handed one shared context; a setter on one assignment changes only it")
    func sharedContext() throws {
        let scheduler = Scheduler(seed: 1)
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        defer { client.shutdown() }
        let engines = (0..<4).map { _ in ManualEngine(highWaterMark: 0) }
        for e in engines { scheduler.addEngine(e) }
        var view = client.loadBalancedView()
        view.flags.runTimeLimit = 7
        view.flags.environment = ["A": "1"]
        view.flags.workingDirectory = "/tmp"
        _ = try view.submit(builtins: Array(repeating: .noop, count: 40))
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 8))
        let handed = engines.flatMap { e in e.s.withLock { $0.queue } }
        #expect(handed.count == 48)
        let first = handed.filter { $0.task.rawValue <= 40 }
        let second = handed.filter { $0.task.rawValue > 40 }
        #expect(Set(first.map { ObjectIdentifier($0.context) }).count == 1, "one context for the batch's 40 tasks")
        #expect(Set(second.map { ObjectIdentifier($0.context) }).count == 1)
        #expect(first[0].context !== second[0].context, "each batch has its own")
        for a in first {
            #expect(a.runTimeLimit == 7 && a.environment == ["A": "1"] && a.workingDirectory == "/tmp")
            #expect(a.maxOutput == view.flags.maxOutput && a.spoolDirectory == nil && a.outputTap == nil)
        }
        #expect(second.allSatisfy { $0.runTimeLimit == nil && $0.environment.isEmpty && $0.workingDirectory == nil })
        // A setter makes the assignment its own context: the batch's others keep theirs.
        var changed = first[0]
        changed.environment["B"] = "2"
        changed.runTimeLimit = nil
        #expect(changed.environment == ["A": "1", "B": "2"] && changed.runTimeLimit == nil)
        #expect(changed.workingDirectory == "/tmp")
        #expect(first[1].environment == ["A": "1"] && first[1].runTimeLimit == 7)
        #expect(first[0].environment == ["A": "1"])
        // The public memberwise form still makes one with every field.
        let made = Assignment(
            task: TaskID(1), work: .builtin(.noop), runTimeLimit: 2, maxOutput: 5, spoolDirectory: "/s", outputTap: nil,
            slot: 3, workingDirectory: "/w", environment: ["X": "y"])
        #expect(made.runTimeLimit == 2 && made.maxOutput == 5 && made.spoolDirectory == "/s" && made.slot == 3)
        #expect(made.workingDirectory == "/w" && made.environment == ["X": "y"])
    }

    @Test("the reported value's kind, found by its type first, is what a dynamic cast finds")
    func reportedKind() {
        let shell = ShellResult(exitStatus: 0, signal: nil, stdout: .empty, stderr: .empty)
        let values: [(any Sendable)?] = [
            nil, 0, Int.max, shell, "7", 7.0, Int32(7), Optional<Int>.some(3) as any Sendable, UInt8(5), [1, 2],
            Optional<ShellResult>.some(shell) as any Sendable,
        ]
        for v in values {
            let cast: ReportedValue
            if let v { cast = v is Int ? .int : v is ShellResult ? .shell : .other } else { cast = .none }
            #expect(ReportedValue(v) == cast, "\(String(describing: v))")
        }
        #expect(ReportedValue(0) == .int && ReportedValue(shell) == .shell && ReportedValue("x") == .other)
    }
}
