import PPTerm
import Testing

@testable import PPDash
import PPKit

@Suite("UI state: keys to queries and effects")
struct UIStateTests {
    func state(tableRows: Int = 20) -> UIState {
        var ui = UIState()
        ui.viewport.tableRows = tableRows
        return ui
    }

    @Test func queryAsksOnlyForVisibleRows() {
        let ui = state(tableRows: 17)
        #expect(ui.query.limit == 17)
        #expect(ui.query.offset == 0)
        #expect(ui.query.sort == .id)
        #expect(ui.query.ascending)
    }

    @Test func sortColumnMovesAndFlips() {
        var ui = state()
        let snap = Fixture.snapshot()
        _ = ui.handle(.char(">"), snapshot: snap)
        #expect(ui.query.sort == .batch)
        _ = ui.handle(.char("<"), snapshot: snap)
        _ = ui.handle(.char("<"), snapshot: snap)
        #expect(ui.query.sort == .text)  // wraps around
        _ = ui.handle(.char("o"), snapshot: snap)
        #expect(!ui.query.ascending)
        _ = ui.handle(.char("o"), snapshot: snap)
        #expect(ui.query.ascending)
    }

    @Test func filterIsLiveEnterKeepsEscClears() {
        var ui = state()
        let snap = Fixture.snapshot()
        _ = ui.handle(.char("/"), snapshot: snap)
        #expect(ui.prompt == .filter)
        for c in "err" { _ = ui.handle(.char(c), snapshot: snap) }
        #expect(ui.query.filter == "err")
        _ = ui.handle(.backspace, snapshot: snap)
        #expect(ui.query.filter == "er")
        _ = ui.handle(.enter, snapshot: snap)
        #expect(ui.prompt == nil)
        #expect(ui.query.filter == "er")
        // Reopening edits the kept filter; Esc clears it.
        _ = ui.handle(.char("/"), snapshot: snap)
        #expect(ui.editor.text == "er")
        _ = ui.handle(.escape, snapshot: snap)
        #expect(ui.prompt == nil)
        #expect(ui.query.filter == "")
    }

    @Test func filterKeysDoNotTriggerCommands() {
        var ui = state()
        _ = ui.handle(.char("/"), snapshot: Fixture.snapshot())
        var effects: [Effect] = []
        for c in "qapzs+-" { effects += ui.handle(.char(c), snapshot: Fixture.snapshot()) }
        #expect(effects.isEmpty)
        #expect(ui.filter == "qapzs+-")
    }

    @Test func followModeSetsTheQueryAndMovingLeavesIt() {
        var ui = state()
        let snap = Fixture.snapshot(rows: 20, offset: 100)
        _ = ui.handle(.char("f"), snapshot: snap)
        #expect(ui.query.follow)
        ui.reconcile(with: snap)
        #expect(ui.selected == 119)  // newest row of the window
        _ = ui.handle(.char("k"), snapshot: snap)
        #expect(!ui.query.follow)
        #expect(ui.selected == 118)
        #expect(ui.query.offset == 100)
    }

    @Test func movingScrollsTheWindow() {
        var ui = state(tableRows: 20)
        var snap = Fixture.snapshot(rows: 20, total: 250)
        ui.reconcile(with: snap)
        for _ in 0..<25 { _ = ui.handle(.char("j"), snapshot: snap) }
        #expect(ui.selected == 25)
        #expect(ui.query.offset == 6)
        _ = ui.handle(.pageDown, snapshot: snap)
        #expect(ui.selected == 44)
        _ = ui.handle(.char("G"), snapshot: snap)
        #expect(ui.selected == 249)
        #expect(ui.query.offset == 230)
        snap = Fixture.snapshot(rows: 20, offset: 230, total: 250)
        ui.reconcile(with: snap)
        #expect(ui.selectedRow(in: snap)?.id == TaskID(250))
        _ = ui.handle(.char("g"), snapshot: snap)
        #expect(ui.selected == 0)
        #expect(ui.query.offset == 0)
    }

    @Test func selectionClampsWhenRowsGo() {
        var ui = state(tableRows: 10)
        ui.reconcile(with: Fixture.snapshot(rows: 10, total: 250))
        _ = ui.handle(.char("G"), snapshot: Fixture.snapshot(rows: 10, total: 250))
        ui.reconcile(with: Fixture.snapshot(rows: 5, total: 5))
        #expect(ui.selected == 4)
        #expect(ui.offset == 0)
    }

    @Test func selectionFollowsATaskThatMovesInTheWindow() {
        var ui = state(tableRows: 10)
        let snap = Fixture.snapshot(rows: 10, total: 10)
        ui.reconcile(with: snap)
        _ = ui.handle(.char("j"), snapshot: snap)
        _ = ui.handle(.char("j"), snapshot: snap)
        #expect(ui.selectedTask == TaskID(3))
        var moved = snap
        moved.table.rows.reverse()
        ui.reconcile(with: moved)
        #expect(ui.selectedRow(in: moved)?.id == TaskID(3))
        #expect(ui.selected == 7)
    }

    @Test func actionsTargetTheSelectedRow() {
        var ui = state()
        let snap = Fixture.snapshot(rows: 20)
        ui.reconcile(with: snap)
        // Row 1 is task 1 (running): abort works, retry refuses with a message.
        #expect(ui.handle(.char("a"), snapshot: snap) == [.abortTask(TaskID(1))])
        #expect(ui.handle(.char("A"), snapshot: snap) == [.abortBatch(1)])
        #expect(ui.handle(.char("r"), snapshot: snap) == [])
        #expect(ui.message?.isError == true)
        #expect(ui.handle(.char("R"), snapshot: snap) == [.retryFailed(1)])
        // Task 10 failed (error): retry goes through.
        for _ in 0..<9 { _ = ui.handle(.char("j"), snapshot: snap) }
        #expect(ui.handle(.char("r"), snapshot: snap) == [.retryTask(TaskID(10))])
    }

    @Test func quitAsksWhileTasksRun() {
        var ui = state()
        let busy = Fixture.snapshot()
        #expect(ui.handle(.char("q"), snapshot: busy) == [])
        #expect(ui.confirmingQuit)
        #expect(ui.handle(.char("n"), snapshot: busy) == [])
        #expect(!ui.confirmingQuit)
        _ = ui.handle(.ctrl("c"), snapshot: busy)
        #expect(ui.handle(.char("y"), snapshot: busy) == [.quit])
        var idle = busy
        idle.totals = Fixture.counts(ok: 10)
        var fresh = state()
        #expect(fresh.handle(.char("q"), snapshot: idle) == [.quit])
    }

    @Test func submitPrompt() {
        var ui = state()
        let snap = Fixture.snapshot()
        _ = ui.handle(.char("s"), snapshot: snap)
        #expect(ui.prompt == .submit)
        var effects: [Effect] = []
        for c in "echo {} ::: 1..3" { effects += ui.handle(.char(c), snapshot: snap) }
        #expect(effects.isEmpty)
        #expect(ui.handle(.enter, snapshot: snap) == [.submit("echo {} ::: 1..3")])
        #expect(ui.prompt == nil)
        // History: reopen and press Up.
        _ = ui.handle(.char("s"), snapshot: snap)
        _ = ui.handle(.up, snapshot: snap)
        #expect(ui.editor.text == "echo {} ::: 1..3")
        _ = ui.handle(.escape, snapshot: snap)
        #expect(ui.prompt == nil)
        // Empty lines submit nothing.
        _ = ui.handle(.char("s"), snapshot: snap)
        #expect(ui.handle(.enter, snapshot: snap) == [])
    }

    @Test func escClosesHelpThenDetail() {
        var ui = state()
        let snap = Fixture.snapshot()
        ui.reconcile(with: snap)
        #expect(ui.handle(.enter, snapshot: snap) == [.fetchDetail(TaskID(1))])
        #expect(ui.mode == .detail)
        _ = ui.handle(.function(1), snapshot: snap)
        #expect(ui.showHelp)
        _ = ui.handle(.escape, snapshot: snap)
        #expect(!ui.showHelp)
        #expect(ui.mode == .detail)
        _ = ui.handle(.escape, snapshot: snap)
        #expect(ui.mode == .main)
    }

    @Test func detailScrollSticksToTheBottom() {
        var ui = state()
        let snap = Fixture.snapshot()
        ui.reconcile(with: snap)
        _ = ui.handle(.enter, snapshot: snap)
        ui.viewport.detailRows = 10
        ui.viewport.detailLines = 25
        _ = ui.handle(.char("j"), snapshot: snap)
        #expect(ui.detailScroll == 1)
        _ = ui.handle(.char("G"), snapshot: snap)
        #expect(ui.detailScroll == Int.max)
        _ = ui.handle(.char("k"), snapshot: snap)
        #expect(ui.detailScroll == 14)
        _ = ui.handle(.pageUp, snapshot: snap)
        #expect(ui.detailScroll == 5)
    }

    @Test func panesAndEngineKeys() {
        var ui = state()
        let snap = Fixture.snapshot(engines: 6)
        #expect(ui.handle(.char("-"), snapshot: snap) == [.removeEngine(nil)])
        _ = ui.handle(.tab, snapshot: snap)
        #expect(ui.focus == .engines)
        _ = ui.handle(.char("j"), snapshot: snap)
        _ = ui.handle(.char("j"), snapshot: snap)
        #expect(ui.handle(.char("-"), snapshot: snap) == [.removeEngine(2)])
        #expect(ui.handle(.char("+"), snapshot: snap) == [.addEngine])
        _ = ui.handle(.enter, snapshot: snap)
        #expect(ui.focus == .table)
        #expect(ui.query.filter == "e2")
        #expect(ui.handle(.char("p"), snapshot: snap) == [.setPaused(true)])
        #expect(ui.handle(.char("p"), snapshot: Fixture.snapshot(paused: true)) == [.setPaused(false)])
    }

    @Test func freezeIsAUIFlag() {
        var ui = state()
        #expect(ui.handle(.char("z"), snapshot: nil) == [])
        #expect(ui.frozen)
        _ = ui.handle(.char("z"), snapshot: nil)
        #expect(!ui.frozen)
    }
}
