import Foundation
import Testing

@testable import PPKit

/// Sweeps are made as they are dispatched, stdin is a stream: memory is bounded by what runs, not by the input.
@Suite("LazyBatch")
struct LazyBatchTests {
    @Test("a sweep of ten million counts them all at once and makes only a bounded read-ahead; stopping settles the rest")
    func lazyRange() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let engine = ManualEngine()
        client.addEngine(engine)
        defer { client.shutdown() }
        let sweep = try Sweep.parse(words: ["echo", "{}", ":::", "1..10000000"])
        let ar = try client.loadBalancedView().submit(sweep)
        #expect(ar.count == 10_000_000)
        #expect(ar.counts.pending + ar.counts.running == 10_000_000)
        #expect(scheduler.totals.total == 10_000_000)
        // Made: the read-ahead and what the engine took, not ten million.
        let made = ar.handle.range.count
        #expect(made > 0 && made <= Scheduler.State.readAhead + 1, "made \(made)")
        // Tasks made later carry their own arguments and {#}.
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: nil)
        #expect(eventually { ar.handle.range.count == made + 1 })
        let last = try #require(ar.metadata(made))
        #expect(last.args == [String(made + 1)])
        #expect(last.seq == made + 1)
        // Stopping: made tasks are aborted one by one, the rest counted aborted at once; the batch is done.
        ar.abort()
        #expect(ar.wait(timeout: 5))
        #expect(ar.counts.aborted + ar.counts.error + ar.counts.ok == 10_000_000)
        #expect(ar.counts.pending == 0 && scheduler.totals.pending == 0)
        #expect(ar.handle.range.count <= Scheduler.State.readAhead + 2)
    }

    @Test("a batch is refused while a lazy one is being made (its ids stay contiguous), and accepted once it is made")
    func oneBeingMade() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let ar = try view.submit(try Sweep.parse(words: ["sleep 0.2 #", ":::", "1..100000"]))
        let refused = #expect(throws: PPError.self) { _ = try view.submit(try Sweep.parse(words: ["true", ":::", "a"])) }
        #expect(refused?.code == .invalidState)
        ar.abort()
        #expect(ar.wait(timeout: 10))
        let next = try view.submit(try Sweep.parse(words: ["true", ":::", "a", "b"]))
        #expect(next.wait(timeout: 10))
        #expect(next.counts.ok == 2)
    }

    @Test("a stream's count is unknown until it is closed; tasks run as they are appended")
    func stream() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let stream = try client.loadBalancedView().openStream(template: try Template("echo {}"))
        #expect(stream.result.isOpen)
        #expect(stream.append([["a"], ["b"]]))
        // They run before the stream ends.
        #expect(eventually { stream.result.counts.ok == 2 })
        #expect(!stream.result.ready())
        #expect(!stream.result.wait(timeout: 0.05))
        #expect(stream.append([["c"]]))
        stream.close()
        #expect(!stream.result.isOpen)
        #expect(stream.result.wait(timeout: 10))
        #expect(stream.result.count == 3)
        #expect(stream.result.metadata(2)?.args == ["c"])
        #expect(stream.result.metadata(2)?.seq == 3)
        // Closed: no more tasks are taken.
        #expect(!stream.append([["d"]]))
    }

    @Test("a halted stream stops taking tasks: the reader is told to stop")
    func haltedStream() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.flags.halt = .soon
        let stream = try view.openStream(template: try Template("exit {}"))
        #expect(stream.append([["1"]]))
        #expect(eventually { stream.result.counts.failed == 1 })
        #expect(!stream.append([["0"]]))
        #expect(stream.result.wait(timeout: 10))
    }
}
