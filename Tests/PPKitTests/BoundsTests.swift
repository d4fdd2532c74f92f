import Foundation
import Testing
@testable import PPKit

@Suite("bounds: bad input and a faulty worker are errors, never a trap")
struct BoundsTests {
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
