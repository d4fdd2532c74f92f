import PPKit
import PPSource
import PPTerm
import Testing

@testable import PPDash

/// The calm view: figures read at a glance (engine rows, the header, clocks and rates) refresh once per interval,
/// bars, counts and the table every poll; what must show at once does.
@Suite("Calm: glance figures refresh once a second")
struct CalmTests {
    let size = Size(rows: 30, cols: 100)

    /// `old` with engine 1's done count and batch 2's progress moved on.
    func advanced(_ old: Snapshot) -> Snapshot {
        var s = old
        s.engines[1].done = 987
        s.batches[1].counts.ok = 50
        s.batches[1].counts.pending -= 13
        s.totals.ok += 13
        s.totals.pending -= 13
        s.time = old.time.adding(seconds: 0.4)
        return s
    }

    @Test func engineRowsAndBarsComeFromTheCalmSnapshot() {
        let old = Fixture.snapshot()
        let fresh = advanced(old)
        let calm = render(fresh, UIState(), size: size, capabilities: color, calm: old)
        #expect(!calm.lines.contains { $0.contains("987") })
        // The bars read the calm snapshot too, so they agree with the header (one number, one source).
        #expect(!calm.lines.contains { $0.contains("54/100") })
        #expect(calm.lines.contains { $0.contains("41/100") })
        let live = render(fresh, UIState(), size: size, capabilities: color)
        #expect(live.lines.contains { $0.contains("987") })
    }

    @Test func workStartingOrStoppingIsNeverHeldBack() {
        var idle = Fixture.snapshot()
        idle.totals.pending += idle.totals.running
        idle.totals.running = 0
        var started = idle
        started.totals.running = 1
        started.totals.pending -= 1
        #expect(idle.calmIsStale(comparedTo: started))
        #expect(started.calmIsStale(comparedTo: idle))
        #expect(!started.calmIsStale(comparedTo: started))
    }

    @Test func theControllerHoldsGlanceFiguresForTheIntervalOnly() {
        let source = FakeSource()
        let clock = ManualClock()
        let c = DashboardController(source: source, size: size, capabilities: color, clock: clock.now)
        c.calmInterval = 1
        c.poll()
        source.lock.withLock {
            $0.engines[1].done = 987
            $0.generation += 1
        }
        clock.advance(0.5)
        c.poll()
        #expect(!c.frame().lines.contains { $0.contains("987") })
        clock.advance(0.6)
        c.poll()
        #expect(c.frame().lines.contains { $0.contains("987") })
    }

    @Test func anEngineThatJoinsOrDiesShowsAtOnce() {
        let source = FakeSource()
        let clock = ManualClock()
        let c = DashboardController(source: source, size: size, capabilities: color, clock: clock.now)
        c.calmInterval = 1
        c.poll()
        source.lock.withLock { $0.engines[2].state = .dead(reason: "killed by signal 9") }
        clock.advance(0.1)
        c.poll()
        #expect(c.frame().lines.contains { $0.contains("killed by signal 9") })
        source.lock.withLock { $0.engines += Fixture.engines(4).suffix(1) }
        clock.advance(0.1)
        c.poll()
        #expect(c.frame().lines.contains { $0.contains("Engines 4") })
    }
}
