import Foundation
import Testing
@testable import PPKit

@Suite("abortPending: the call behind --halt soon")
struct AbortPendingTests {
    @Test("aborts the batch's tasks that have not started; the running one finishes; other batches go on")
    func abortsOnlyPending() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let engine = ManualEngine()
        client.addEngine(engine)
        // Labels that say "pending": the call goes by status, never by text.
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, [1, 2, 3], label: "pending")
        let other = try client.loadBalancedView().mapAsync({ (x: Int) in x }, [4], label: "pending")
        #expect(ar.metadata.map(\.status) == [.running, .pending, .pending])

        #expect(scheduler.abortPending(batch: ar.batch) == 2)
        #expect(ar.metadata.map(\.status) == [.running, .aborted, .aborted])
        #expect(ar.metadata(1)?.error == "aborted before it ran")
        #expect(other.metadata(0)?.status == .pending)
        #expect(scheduler.abortPending(batch: ar.batch) == 0, "nothing left to abort")

        engine.finishFirst(value: 1)
        #expect(ar.wait(timeout: 5))
        #expect(ar.metadata.map(\.status) == [.ok, .aborted, .aborted])
        #expect(eventually { engine.held.count == 1 }, "the other batch's task started")
        engine.finishFirst(value: 4)
        #expect(try other.get(timeout: 5) == [4])
        #expect(scheduler.abortPending(batch: 99) == 0, "an unknown batch is left alone")
    }
}

@Suite("halt policy: the batch's first failure stops it, exactly")
struct HaltPolicyTests {
    struct Boom: Error {}

    @Test("soon: no task starts after the first failure, however many engines free up; running ones finish")
    func soonIsExact() throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        let started = Counter()
        var view = client.loadBalancedView()
        view.flags.halt = .soon
        let ar = try view.mapAsync({ (x: Int) throws -> Int in
            started.increment()
            throw Boom()
        }, 0..<50_000)
        #expect(ar.wait(timeout: 30))
        let statuses = ar.metadata.map(\.status)
        let errors = statuses.filter { $0 == .error }.count
        // Tasks already handed to an engine when the failure was recorded may run (an in-process engine starts a
        // closure before the scheduler hears of it): at most one failure per engine, two tasks queued per engine.
        #expect(errors >= 1 && errors <= 4, "\(errors) tasks failed")
        #expect(started.count <= 8, "\(started.count) tasks started after a failure on 4 engines")
        #expect(statuses.filter { $0 == .aborted }.count == 50_000 - errors)
    }

    @Test("now: the running tasks are stopped too; other batches go on; no policy, no halt")
    func nowStopsRunning() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.flags.halt = .now
        let plain = try client.loadBalancedView().mapAsync({ (x: Int) throws -> Int in
            if x == 0 { throw Boom() }
            return x
        }, 0..<3)
        #expect(plain.wait(timeout: 10))
        #expect(plain.metadata.map(\.status).filter { $0 == .ok }.count == 2, "without a policy a failure stops nothing")
        // Blocking closures (an async one needs a cooperative thread, which other tests' waits may hold): the slow
        // ones spin until the test lets them go, so an engine thread is never left sleeping.
        let release = Counter()
        defer { release.increment() }
        let ar = try view.mapAsync({ (x: Int) throws -> Int in
            if x == 0 { throw Boom() }
            for _ in 0..<3000 where release.count == 0 { usleep(10_000) }
            return x
        }, 0..<3)
        #expect(ar.wait(timeout: 10), "the sleeping tasks were stopped, not waited for")
        #expect(ar.metadata[0].status == .error)
        #expect(ar.metadata.dropFirst().allSatisfy { $0.status == .aborted })
    }
}
