import Testing

@testable import PPKit

@Suite("High-water mark with task costs")
struct HighWaterMarkTests {
    @Test("a deep mark pipelines no-ops but lets only one other task wait behind the running one")
    func costs() throws {
        let scheduler = Scheduler()
        let a = ManualEngine(highWaterMark: 64)
        let b = ManualEngine(highWaterMark: 64)
        scheduler.addEngine(a)
        scheduler.addEngine(b)
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let view = client.loadBalancedView()
        _ = try view.submit(builtins: (0..<10).map { .sleepSquare(x: $0, seconds: 1) })
        // Two per engine (cost 32 each against 64): one running, one waiting; six stay with the scheduler.
        #expect(a.held.count == 2)
        #expect(b.held.count == 2)
        #expect(scheduler.queueStatus().unassigned == 6)
        // As one finishes, exactly one more is handed over.
        a.finishFirst(value: 0)
        #expect(a.held.count == 2)
        #expect(scheduler.queueStatus().unassigned == 5)
    }

    @Test("no-ops fill the whole mark")
    func noops() throws {
        let scheduler = Scheduler()
        let a = ManualEngine(highWaterMark: 64)
        scheduler.addEngine(a)
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 100))
        #expect(a.held.count == 64)
        #expect(scheduler.queueStatus().unassigned == 36)
    }

    @Test("a mark of 1 is unchanged: one task at a time whatever its kind")
    func markOfOne() {
        #expect(TaskWork.builtin(.noop).hwmCost(hwm: 1) == 1)
        #expect(TaskWork.builtin(.sleepSquare(x: 1, seconds: 0)).hwmCost(hwm: 1) == 1)
        #expect(TaskWork.builtin(.sleepSquare(x: 1, seconds: 0)).hwmCost(hwm: 64) == 32)
    }
}
