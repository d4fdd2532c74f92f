import PPSource
import PPTerm
import Testing

@testable import PPDash
@testable import PPKit

/// What a frame reads, counted (never timed): the rows it shows, whatever the task count; the copy of the task keys a
/// sort reads is made between frames (`idle`), as the app loop does.
@Suite("Frame cost counted")
struct FrameCostTests {
    @Test("200,000 tasks: each poll reads the table's rows only; idle() copies the keys a chunk at a time; then a sort reads nothing under the lock")
    func framesReadTheirRows() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        client.scheduler.isPaused = true
        let n = 200_000
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        let source = LocalSource(client: client)
        let c = DashboardController(source: source, size: Size(rows: 30, cols: 100), capabilities: color)
        let rows = c.state.query.limit
        #expect(rows > 0 && rows < 30)
        for _ in 0..<5 {
            c.poll()
            _ = c.frame()
            #expect(source.lastSnapshotCost <= rows && source.lastLockedCost <= rows, "a frame reads its rows")
        }
        #expect(c.snapshot.table.total == n)
        // The app loop's upkeep between frames: bounded per call, done after a bounded number of calls.
        var calls = 0
        while c.idle() {
            calls += 1
            #expect(source.lastIdleCost <= LocalSource.keyChunk)
            if calls > n { break }
        }
        #expect(calls < n / (LocalSource.keyChunk / 4) + 2, "\(calls) calls")
        c.poll()
        #expect(source.lastLockedCost <= rows, "frames stay at their rows once the copy is made")
        c.handle(.char(">"))
        #expect(c.state.query.sort != .id)
        #expect(source.lastLockedCost == 0, "the sort found the copy ready")
        #expect(c.snapshot.table.matching == n)
    }
}
