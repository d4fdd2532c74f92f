import Foundation
import Synchronization
import Testing

@testable import PPKit

@Suite("event delivery")
struct EventDeliveryTests {
    @Test("a slow observer holds the engines back: the undelivered queue stays near its bound")
    func backlogBounded() throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        let scheduler = client.scheduler
        let most = Mutex(0)
        let seen = Counter()
        scheduler.addObserver { _ in
            // On the delivery thread: look at what waits, then be slow.
            let queued = scheduler.state.withLock { $0.outbox.count }
            most.withLock { $0 = max($0, queued) }
            if seen.increment() % 512 == 0 { usleep(2_000) }
        }
        let n = 20_000
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, 0..<n)
        #expect(ar.wait(timeout: 60))
        #expect(seen.count == 3 * n, "every event delivered (submitted, started, completed)")
        let peak = most.withLock { $0 }
        // Without the bound the queue would hold most of the 60,000 events: the engines outrun the observer.
        #expect(peak <= 2 * EventDelivery.backlog, "peak queue \(peak)")
    }

    @Test("an observer may call back into the scheduler: abort, flush, read; nothing deadlocks")
    func observerCallsBack() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let scheduler = client.scheduler
        let aborted = Counter()
        scheduler.addObserver { e in
            guard case .completed(_, let batch, let status) = e, status == .error else { return }
            scheduler.flushEvents()  // on the delivery thread: returns at once
            _ = scheduler.metadata(TaskID(1))
            if aborted.count == 0 {
                aborted.increment()
                scheduler.abort(batch: batch)
            }
        }
        struct Boom: Error {}
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) throws -> Int in
            if x == 0 { throw Boom() }
            usleep(20_000)
            return x
        }, 0..<50)
        #expect(ar.wait(timeout: 30), "the batch ended: no deadlock between the observer and the scheduler")
        #expect(aborted.count == 1)
        #expect(ar.metadata.contains { $0.status == .aborted })
        scheduler.flushEvents()
    }
}
