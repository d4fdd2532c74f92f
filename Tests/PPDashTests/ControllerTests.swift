import PPTerm
import Synchronization
import Testing

@testable import PPDash
import PPKit

/// A clock tests move by hand.
final class ManualClock: Sendable {
    let seconds = Mutex(0.0)
    func now() -> Double { seconds.withLock { $0 } }
    func advance(_ s: Double) { seconds.withLock { $0 += s } }
}

@Suite("Controller: keys become source calls")
struct ControllerTests {
    func make(_ source: FakeSource = FakeSource(), rows: Int = 24, cols: Int = 80, clock: ManualClock = ManualClock())
        -> DashboardController
    {
        DashboardController(source: source, size: Size(rows: rows, cols: cols), capabilities: color, clock: clock.now)
    }

    func type(_ text: String, into c: DashboardController) {
        for ch in text { c.handle(.char(ch)) }
    }

    @Test func submitGoesThroughTheSource() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("s"))
        type("sleep 0.1; echo $(({}*{})) ::: 0..99", into: c)
        #expect(source.calls.isEmpty)
        c.handle(.enter)
        #expect(source.calls == ["submit sleep 0.1; echo $(({}*{})) ::: 0..99"])
        #expect(c.state.message?.text.contains("batch 2 submitted") == true)
        #expect(c.state.prompt == nil)
    }

    @Test func aMalformedSubmissionShowsItsErrorAndSubmitsNothing() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("s"))
        type("echo no separator", into: c)
        c.handle(.enter)
        #expect(source.calls == ["submit rejected"])
        #expect(c.state.message?.isError == true)
        #expect(c.state.message?.text.contains("no ::: in") == true)
        #expect(c.frame().lines[23].contains("nothing submitted"))
    }

    @Test func escCancelsTheSubmitPrompt() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("s"))
        type("echo {} ::: 1", into: c)
        c.handle(.escape)
        #expect(source.calls.isEmpty)
        #expect(c.state.prompt == nil)
    }

    @Test func abortAndRetryTheSelection() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("a"))
        c.handle(.char("A"))
        for _ in 0..<9 { c.handle(.char("j")) }  // task 10 failed
        c.handle(.char("r"))
        c.handle(.char("R"))
        #expect(source.calls == ["abort task 1", "abort batch 1", "retry task 10", "retry batch 1"])
        #expect(c.state.message?.text.contains("3 failed tasks queued again") == true)
    }

    @Test func pauseToggles() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("p"))
        #expect(c.snapshot.paused)
        #expect(c.frame().lines[0].contains("PAUSED"))
        c.handle(.char("p"))
        #expect(source.calls == ["paused true", "paused false"])
        #expect(!c.frame().lines[0].contains("PAUSED"))
    }

    @Test func addAndRemoveEngines() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("+"))
        c.handle(.char("-"))
        c.handle(.tab)
        c.handle(.char("j"))
        c.handle(.char("-"))
        #expect(source.calls == ["add engine", "remove engine nil", "remove engine 1"])
    }

    @Test func detailFetchesMetadata() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("j"))
        c.handle(.enter)
        #expect(source.calls.contains("metadata 2"))
        #expect(c.state.detail?.id == TaskID(2))
        #expect(c.frame().text.contains("Task 2"))
        // A task is fetched again when the scheduler changes; a running one each tick (its output grows without a
        // change of generation).
        let fetches = { source.calls.filter { $0 == "metadata 2" }.count }
        let first = fetches()
        source.lock.withLock { $0.generation += 1 }
        c.poll()
        #expect(fetches() > first)
        if c.state.detail?.status == .running {
            let before = fetches()
            c.poll()
            #expect(fetches() > before, "a running task is read again with no change of generation")
        }
        c.handle(.escape)
        #expect(c.state.mode == .main)
    }

    @Test func queriesNeverAskForMoreThanFits() {
        let source = FakeSource(tasks: 500)
        let c = make(source)
        for k: Key in [.pageDown, .pageDown, .char("G"), .char("f"), .char(">"), .char("o")] { c.handle(k) }
        c.resize(to: Size(rows: 60, cols: 200))
        c.handle(.pageDown)
        c.resize(to: Size(rows: 10, cols: 40))
        c.resize(to: Size(rows: 24, cols: 80))
        let layoutRows = Layout(size: Size(rows: 60, cols: 200), engines: 3, bars: 1).tableRows
        #expect(source.queries.allSatisfy { $0.limit <= layoutRows })
        #expect(source.queries.contains { $0.follow })
        #expect(source.queries.contains { $0.sort == .batch && !$0.ascending })
    }

    @Test func scrollingAsksForTheRightWindow() {
        let source = FakeSource(tasks: 500)
        let c = make(source)
        let rows = c.state.viewport.tableRows
        c.handle(.pageDown)
        c.handle(.pageDown)
        #expect(c.snapshot.table.offset == c.state.offset)
        #expect(c.state.selected >= c.state.offset && c.state.selected < c.state.offset + rows)
        c.handle(.char("G"))
        #expect(c.snapshot.table.rows.last?.id == TaskID(500))
        #expect(c.state.selectedTask == TaskID(500))
        #expect(c.frame().text.contains("rows \(500 - rows + 1)-500 of 500"))
    }

    @Test func liveFilter() {
        let source = FakeSource(tasks: 100)
        let c = make(source)
        c.handle(.char("/"))
        type("error", into: c)
        #expect(source.queries.last?.filter == "error")
        #expect(c.snapshot.table.rows.allSatisfy { $0.status == .error })
        #expect(c.frame().text.contains("(filtered from 100)"))
        c.handle(.escape)
        #expect(source.queries.last?.filter == "")
    }

    @Test func frozenDisplayStopsPolling() {
        let source = FakeSource()
        let c = make(source)
        c.handle(.char("z"))
        let before = source.queries.count
        c.poll()
        c.poll()
        #expect(source.queries.count == before)
        c.handle(.char("j"))  // scrolling still works
        c.handle(.char("z"))
        c.poll()
        #expect(source.queries.count > before)
    }

    @Test func quitAsksWhileTasksRun() {
        let source = FakeSource()
        let c = make(source)
        #expect(c.handle(.char("q")) == nil)
        #expect(c.frame().lines[23].contains("Quit? (y/n)"))
        #expect(c.handle(.char("n")) == nil)
        #expect(c.handle(.ctrl("c")) == nil)
        #expect(c.handle(.char("x")) == nil)  // any other key: stay
        #expect(!c.state.confirmingQuit)
        #expect(c.handle(.ctrl("c")) == nil)
        #expect(c.handle(.ctrl("c")) == .quit)  // Ctrl-C twice quits
        #expect(c.handle(.char("q")) == nil)
        #expect(c.handle(.char("y")) == .quit)
        #expect(!source.calls.contains("stop all"))
    }

    @Test func quitAtOnceWhenNothingRuns() {
        let source = FakeSource(tasks: 3)
        source.lock.withLock { s in
            for i in s.tasks.indices { s.tasks[i].status = .ok }
        }
        let c = make(source)
        #expect(c.handle(.char("q")) == .quit)
    }

    @Test func messagesExpire() {
        let clock = ManualClock()
        let c = make(FakeSource(), clock: clock)
        c.handle(.char("+"))
        #expect(c.state.message != nil)
        clock.advance(2)
        c.poll()
        #expect(c.state.message != nil)
        clock.advance(4)
        c.poll()
        #expect(c.state.message == nil)
    }

    @Test func helpOpensAndCloses() {
        let c = make()
        c.handle(.function(1))
        #expect(c.frame().text.contains("ppdash keys"))
        c.handle(.char("j"))
        #expect(c.state.helpScroll == 1)
        c.handle(.escape)
        #expect(!c.frame().text.contains("ppdash keys"))
    }
}
