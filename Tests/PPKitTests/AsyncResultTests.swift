import Synchronization
import Foundation
import Testing
@testable import PPKit

@Suite("AsyncResult semantics")
struct AsyncResultTests {
    @Test("the recipe: map_async of a sleeping square over 4 engines")
    func recipe() throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let ar = try view.mapAsync({ (x: Int) -> Int in
            blockingSleep(0.02)
            return x * x
        }, 0..<20)
        #expect(ar.count == 20)
        #expect(ar.msgIds.count == 20)
        let values = try ar.get(timeout: 30)
        #expect(values == (0..<20).map { $0 * $0 })
        #expect(ar.ready())
        #expect(ar.progress == 20)
        #expect(try ar.successful())
        let m = try #require(ar.metadata(0))
        #expect(m.status == .ok)
        #expect(m.engine != nil)
        let started = try #require(m.started)
        let completed = try #require(m.completed)
        let received = try #require(m.received)
        #expect(m.submitted <= started && started <= completed && completed <= received)
        #expect(m.retries == 0)
        // serial time is the sum of run times: 20 x 20 ms at least.
        #expect(try ar.serialTime >= 0.4)
        #expect(try ar.wallTime > 0)
        #expect(ar.elapsed == (try ar.wallTime))
        // All four engines took part (least-load spreads a 20-task batch).
        #expect(Set(ar.metadata.compactMap(\.engine)).count == 4)
    }

    @Test("timings and successful() refuse before ready; wait and get time out and cancel nothing")
    func notReady() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) -> Int in
            blockingSleep(0.3)
            return x
        }, [1])
        #expect(!ar.ready())
        #expect(throws: PPError.self) { try ar.successful() }
        #expect(throws: PPError.self) { try ar.serialTime }
        #expect(throws: PPError.self) { try ar.wallTime }
        #expect(ar.wait(timeout: 0.01) == false)
        do {
            _ = try ar.get(timeout: 0.01)
            Issue.record("get should time out")
        } catch let e as PPError {
            #expect(e.code == .timeout)
        }
        // Nothing was cancelled: the task still completes.
        #expect(try ar.get(timeout: 30) == [1])
    }

    @Test("a failed task's error names the task and engine; several make a CompositeError")
    func failures() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let one = try view.mapAsync({ (x: Int) throws -> Int in
            if x == 2 { throw Boom(n: x) }
            return x
        }, 0..<4)
        do {
            _ = try one.get(timeout: 30)
            Issue.record("expected a failure")
        } catch let f as TaskFailure {
            #expect(f.task == one.msgIds[2])
            #expect(f.engine != nil)
            #expect(f.message.contains("boom 2"))
            #expect(f.status == .error)
        }
        #expect(try one.successful() == false)
        let many = try view.mapAsync({ (x: Int) throws -> Int in throw Boom(n: x) }, 0..<6)
        do {
            _ = try many.get(timeout: 30)
            Issue.record("expected a composite failure")
        } catch let c as CompositeError {
            #expect(c.failures.count == 6)
            #expect(c.description.contains("6 tasks failed"))
        }
        let m = try #require(many.metadata(3))
        #expect(m.status == .error)
        #expect(m.error?.contains("boom 3") == true)
    }

    @Test("async iteration in submission order; completions in completion order")
    func ordering() async throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        // Later items finish first: each waits until the one after it is recorded as done (no timing involved).
        let first = BatchBox()
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) -> Int in
            waitUntilRecorded(x + 1, of: first)
            return x
        }, 0..<4)
        first.batch.withLock { $0 = ar }
        var seen = [Int]()
        for try await v in ar { seen.append(v) }
        #expect(seen == [0, 1, 2, 3])
        var order = [Int]()
        for try await (i, v) in ar.completions {
            #expect(i == v)
            order.append(v)
        }
        #expect(order == [3, 2, 1, 0])
        // ordered = false: iteration follows completion.
        let second = BatchBox()
        let unordered = try client.loadBalancedView().with { $0.ordered = false }.mapAsync({ (x: Int) -> Int in
            waitUntilRecorded(x + 1, of: second)
            return x
        }, 0..<4)
        second.batch.withLock { $0 = unordered }
        var arrival = [Int]()
        for try await v in unordered { arrival.append(v) }
        #expect(arrival == [3, 2, 1, 0])
        let values = try await unordered.get()
        #expect(values == [0, 1, 2, 3])
    }

    @Test("async wait with a timeout returns false without blocking the batch")
    func asyncWait() async throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        // The task runs until the test lets it end (a timed sleep could end first on a starved machine).
        let release = Counter()
        let ar = try client.loadBalancedView().applyAsync { () async throws -> Int in
            for _ in 0..<3000 where release.count == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            return 7
        }
        #expect(await ar.wait(timeout: 0.01) == false)
        release.increment()
        #expect(await ar.wait(timeout: 30) == true)
        #expect(try await ar.get() == 7)
    }

    @Test("abort: pending tasks never run, running ones are marked aborted at once")
    func abort() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let ran = Counter()
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) -> Int in
            ran.increment()
            blockingSleep(0.3)
            return x
        }, 0..<5)
        #expect(eventually { ar.metadata(0)?.status == .running })
        ar.abort()
        #expect(ar.ready())
        let meta = ar.metadata
        #expect(meta[0].status == .aborted)
        #expect(meta[0].started != nil)
        for m in meta.dropFirst() {
            #expect(m.status == .aborted)
            #expect(m.started == nil)
        }
        #expect(throws: CompositeError.self) { try ar.get(timeout: 5) }
        blockingSleep(0.5)
        #expect(ran.count == 1)
    }

    @Test("apply and blocking map")
    func applyAndMap() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        #expect(try view.apply { 6 * 7 } == 42)
        #expect(try view.map({ (s: String) in s.uppercased() }, ["a", "b"]) == ["A", "B"])
        let empty = try view.mapAsync({ (x: Int) in x }, [Int]())
        #expect(empty.ready())
        #expect(try empty.get() == [])
    }
}

/// Blocks (at most 10 s) until item `index` of the batch in `box` is recorded as done; at once past the last item.
private func waitUntilRecorded(_ index: Int, of box: BatchBox) {
    guard index < 4 else { return }
    for _ in 0..<10_000 {
        if let ar = box.batch.withLock({ $0 }), ar.metadata(index)?.status.isFinished == true { return }
        usleep(1000)
    }
}

/// A batch handed to its own tasks once submitted.
private final class BatchBox: Sendable {
    let batch = Mutex<AsyncMapResult<Int>?>(nil)
}
