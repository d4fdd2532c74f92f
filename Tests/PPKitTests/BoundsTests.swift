import Foundation
import Testing
@testable import PPKit

@Suite("bounds: bad input and a faulty worker are errors, never a trap")
struct BoundsTests {
    @Test("retries outside 0...1000 are refused at submit; the bounds themselves are taken")
    func retriesBounded() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        for bad in [-1, ViewFlags.maxRetries + 1, 65536, Int.max] {
            let view = client.loadBalancedView().with { $0.retries = bad }
            let e = #expect(throws: PPError.self) { _ = try view.submit(builtins: [.noop]) }
            #expect(e?.code == .invalidArgument)
            #expect(e?.message == "retries must be from 0 to 1000 (got \(bad))")
        }
        for good in [0, ViewFlags.maxRetries] {
            let ar = try client.loadBalancedView().with { $0.retries = good }.submit(builtins: [.noop])
            #expect(try ar.get(timeout: 10) == [0])
        }
    }

    @Test("a user's retries saturate the record's counter instead of overflowing it")
    func retryCounterSaturates() {
        var r = TaskRecord(batch: BatchSlot(index: 0), seq: 1, submitted: 0)
        r.retries = .max - 1
        r.countRetry()
        #expect(r.retries == .max)
        r.countRetry()
        #expect(r.retries == .max)
    }

    @Test("a cartesian product past 10,000,000 tasks is refused with its size, even when it overflows Int")
    func productBounded() throws {
        let big = try #require(throws: SweepError.self) {
            try Sweep.parse(words: ["echo", ":::", "1..1000", ":::", "1..1000", ":::", "1..1000"])
        }
        #expect(big.message == "the arguments make 1,000,000,000 tasks; at most 10,000,000 in one batch")
        let line = try #require(throws: SweepError.self) { try Sweep.parse(line: "echo {} ::: 1..1000 ::: 1..1000 ::: 1..1000") }
        #expect(line == big)
        // 1000^7 overflows Int: the count saturates, the message says so.
        let group = (1...1000).map(String.init)
        let huge = Sweep(template: try Template("echo"), groups: Array(repeating: group, count: 7))
        let overflow = try #require(throws: SweepError.self) { try huge.checkedCount() }
        #expect(overflow.message.contains("over 9,223,372,036,854,775,807 tasks"))
        // The library refuses it too, before reserving anything.
        let client = makeClient(1)
        defer { client.shutdown() }
        let refused = #expect(throws: PPError.self) { _ = try client.loadBalancedView().submit(huge) }
        #expect(refused?.code == .invalidArgument)
        #expect(refused?.message == overflow.message)
        // Exactly at the cap is fine (counted, not expanded here); below it runs as before.
        let atCap = Sweep(template: try Template("echo"), groups: [group, group, Array(group.prefix(10))])
        #expect(try atCap.checkedCount() == 10_000_000)
        #expect(try Sweep.parse(words: ["echo", ":::", "1..3", ":::", "a", "b"]).count == 6)
    }

    @Test("a worker reporting ok without a value, or with the wrong kind, fails that task with a reason")
    func okWithoutValue() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let engine = ManualEngine()
        client.addEngine(engine)
        let ar = try client.loadBalancedView().submit(builtins: [.sleepSquare(x: 3, seconds: 0)])
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: nil)
        #expect(ar.wait(timeout: 5))
        #expect(ar.metadata(0)?.status == .error)
        #expect(ar.metadata(0)?.error == "the worker reported ok without a value")
        #expect(throws: TaskFailure.self) { _ = try ar.get(timeout: 5) }

        let shell = try client.loadBalancedView().submit(try Sweep.parse(words: ["echo", ":::", "1"]))
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: 7)
        #expect(shell.wait(timeout: 5))
        #expect(shell.metadata(0)?.error == "the worker reported ok with a value that is not a shell result")
        #expect(throws: TaskFailure.self) { _ = try shell.get(timeout: 5) }

        // A retry lets a good report through.
        let retried = try client.loadBalancedView().with { $0.retries = 1 }.submit(builtins: [.sleepSquare(x: 4, seconds: 0)])
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: nil)
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: 16)
        #expect(try retried.get(timeout: 5) == [16])
        #expect(retried.metadata(0)?.retries == 1)
    }
}
