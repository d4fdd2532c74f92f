import PPKit
import Testing

/// A finishing in-process engine takes its next task back from the scheduler in the same lock hold (no wake-up):
/// what keeps the no-op rate. Counted, not timed.
@Suite("Hand-back of the next task to a finishing engine")
struct HandBackTests {
    @Test("4 in-process engines: every no-op after each engine's first is handed back, each run once")
    func fourEngines() throws {
        let client = Client(engines: 4)
        defer { client.shutdown() }
        let n = 20_000
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        #expect(ar.wait(timeout: 120))
        #expect(client.scheduler.totals.ok == n)
        // Only an engine's first task of the batch needs a wake-up; an engine that found the queue empty wakes again.
        let back = client.scheduler.handedBack
        #expect(back >= n - 4 * 50, "handed back \(back) of \(n)")
        #expect(back <= n - 4)
        let work = client.scheduler.dispatchWork
        #expect(work.assignments == n)
    }

    @Test("a batch of closures and shell tasks through the hand-back keeps every value and start")
    func mixedWork() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let squares = try view.mapAsync({ (x: Int) -> Int in x * x }, 0..<2_000)
        #expect(try squares.get() == (0..<2_000).map { $0 * $0 })
        let before = client.scheduler.handedBack
        let shells = try view.submit(
            Sweep(template: try Template("echo {}"), groups: [ArgGroup((0..<40).map(String.init))])
        ).get()
        #expect(shells.map(\.stdout) == (0..<40).map { "\($0)\n" })
        // Shell tasks are handed back too (they report their own start, with their process group).
        #expect(client.scheduler.handedBack > before)
        for id in 1...2_040 {
            let m = try #require(client.scheduler.metadata(TaskID(id)))
            #expect(m.status == .ok)
            #expect(m.started != nil && m.engine != nil)
        }
    }
}
