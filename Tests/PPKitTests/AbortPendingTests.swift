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
