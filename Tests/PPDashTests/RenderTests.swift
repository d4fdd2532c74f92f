import PPTerm
import Testing

@testable import PPDash
import PPKit
import PPSource

@Suite("Rendering")
struct RenderTests {
    func frame(
        _ snap: Snapshot, _ ui: UIState = UIState(), rows: Int = 24, cols: Int = 80, caps: TermCapabilities = color
    ) -> Canvas {
        var ui = ui
        ui.viewport = viewport(for: snap, ui, size: Size(rows: rows, cols: cols), capabilities: caps)
        ui.reconcile(with: snap)
        return render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: caps)
    }

    @Test func threePanesAt80x24() {
        let c = frame(Fixture.snapshot())
        let lines = c.lines
        #expect(lines.count == 24)
        #expect(widths(c).allSatisfy { $0 == 80 })
        #expect(lines[0].contains("ppdash"))
        #expect(lines[0].contains("engines 2/4 busy"))
        #expect(lines[0].contains("failed 4"))
        #expect(lines[0].contains("? help  q quit"))
        let engines = c.row(containing: "Engines 4")!
        let progress = c.row(containing: "Progress")!
        let tasks = c.row(containing: "Tasks")!
        #expect(engines == 1)
        #expect(engines < progress && progress < tasks)
        // Every engine fits, with its activity sparkline.
        for id in 0..<4 { #expect(lines[engines + 2 + id].hasPrefix(String(format3(id)))) }
        #expect(lines[engines + 2].contains("▁") || lines[engines + 2].contains("█"))
        // A bar per batch and a total bar.
        #expect(lines[progress + 1].contains("#1"))
        #expect(lines[progress + 2].contains("#2"))
        #expect(lines[progress + 3].contains("all"))
        #expect(lines[progress + 2].contains("41/100"))
        #expect(lines[progress + 2].contains("41%"))
        // The table: headings, rows to the status line, the row count.
        #expect(lines[tasks + 1].contains("Subm"))
        #expect(!lines[tasks + 1].contains("Submitted"))
        #expect(lines[tasks + 2].contains("sleep 0.1"))
        #expect(lines[tasks].contains("rows 1-\(22 - tasks - 1) of 250"))
        #expect(lines[23].contains("Enter detail"))
    }

    @Test("a batch whose stdin is still being read shows its count as done/? and no percent; a closed one as before")
    func openStreamShowsUnknownCount() {
        var snap = Fixture.snapshot()
        snap.batches[1].open = true
        let lines = frame(snap).lines
        let progress = frame(snap).row(containing: "Progress")!
        #expect(lines[progress + 2].contains("41/?"), "\(lines[progress + 2])")
        #expect(!lines[progress + 2].contains("41%"))
        #expect(!lines[progress + 2].contains("done"))
        #expect(lines[progress + 3].contains("/?"), "\(lines[progress + 3])")
        snap.batches[1].open = false
        #expect(frame(snap).lines[progress + 2].contains("41/100"))
    }

    @Test func moreRoomShowsMoreAt200x60() {
        let snap = Fixture.snapshot(engines: 16, batches: 6, rows: 60)
        let small = frame(snap)
        let big = frame(snap, rows: 60, cols: 200)
        #expect(widths(big).allSatisfy { $0 == 200 })
        func count(_ c: Canvas, _ pred: (String) -> Bool) -> Int { c.lines.filter(pred).count }
        let engineRows = { (c: Canvas) in count(c) { $0.contains("localhost") || $0.contains(".cluster") } }
        #expect(engineRows(big) > engineRows(small))
        #expect(count(big) { $0.contains("▕") } > count(small) { $0.contains("▕") })
        let taskRows = { (c: Canvas) in count(c) { $0.contains("sleep 0.1; echo") } }
        #expect(taskRows(big) > taskRows(small) + 20)
        for h in ["Submitted", "Started", "Completed", "Status", "Duration", "Retries", "Command"] {
            #expect(big.text.contains(h))
        }
        // Engines and progress side by side.
        let row = big.row(containing: "Engines 16")!
        #expect(big.lines[row].contains("Progress"))
        // Milliseconds in the time columns.
        #expect(big.text.contains(Format.time(Fixture.row(1).submitted, millis: true)))
    }

    @Test func fullHeadingsFrom100Columns() {
        let snap = Fixture.snapshot()
        let wide = frame(snap, cols: 100)
        let narrow = frame(snap, cols: 99)
        let w = wide.lines[wide.row(containing: "Tasks")! + 1]
        let n = narrow.lines[narrow.row(containing: "Tasks")! + 1]
        for h in ["Submitted", "Started", "Completed", "Status"] { #expect(w.contains(h), "\(h) at 100") }
        for h in ["Submitted", "Started", "Completed", "Status"] { #expect(!n.contains(h), "\(h) at 99") }
        for h in ["Subm", "Start", "Compl", "Stat"] { #expect(n.contains(h)) }
    }

    @Test("too small shows one centred line, then recovers", arguments: [(14, 80), (24, 59), (5, 20), (1, 1)])
    func tooSmall(rows: Int, cols: Int) {
        let c = frame(Fixture.snapshot(), rows: rows, cols: cols)
        let used = c.lines.filter { !$0.trimmingSpaces.isEmpty }
        #expect(used.count == 1)
        #expect(used.first?.contains(cols >= 5 ? "60x15" : "6") ?? false)
        let ok = frame(Fixture.snapshot(), rows: 15, cols: 60)
        #expect(ok.text.contains("Tasks"))
        #expect(!ok.text.contains("needs at least"))
    }

    @Test func asciiModeHasOnlyASCII() {
        var ui = UIState()
        for caps in [ascii, TermCapabilities(unicode: false, colors: true)] {
            for (rows, cols) in [(24, 80), (60, 200)] {
                let c = frame(Fixture.snapshot(dead: true), ui, rows: rows, cols: cols, caps: caps)
                #expect(allASCII(c.text), "\(rows)x\(cols)")
            }
        }
        ui.showHelp = true
        #expect(allASCII(frame(Fixture.snapshot(), ui, caps: ascii).text))
        var d = UIState()
        d.mode = .detail
        d.detailTask = TaskID(3)
        d.detail = Fixture.metadata(3)
        #expect(allASCII(frame(Fixture.snapshot(), d, caps: ascii).text))
    }

    @Test func helpDocumentsTheFilterLanguage() {
        var ui = UIState()
        ui.showHelp = true
        let text = frame(Fixture.snapshot(), ui, rows: 120, cols: 120).text
        #expect(text.contains("The / filter"))
        for (example, meaning) in TaskFilter.syntax {
            #expect(text.contains(example) && text.contains(String(meaning.prefix(20))), "\(example)")
        }
    }

    @Test func monochromeHasNoColours() {
        var ui = UIState()
        ui.message = StatusMessage("boom", isError: true)
        let snap = Fixture.snapshot(paused: true, dead: true)
        for c in [frame(snap, ui, caps: mono), frame(snap, ui, rows: 60, cols: 200, caps: mono)] {
            #expect(colourless(c))
            #expect(c.styles.contains(where: isReverse))  // the selected row still shows
        }
        let coloured = frame(snap, ui)
        #expect(!colourless(coloured))
    }

    @Test func rowsColouredByStatusAndSelectionReversed() {
        let snap = Fixture.snapshot(rows: 20)
        var ui = UIState()
        ui.viewport.tableRows = 20
        ui.reconcile(with: snap)
        _ = ui.handle(.down, snapshot: snap)  // select task 2
        let c = frame(snap, ui, cols: 140)
        func style(ofTask id: Int) -> Style {
            let r = c.lines.firstIndex { $0.contains("echo $((\(id)*\(id)))") }!
            return c[r, 30].style
        }
        #expect(style(ofTask: 1).fg == .yellow && style(ofTask: 1).bold)  // running
        #expect(style(ofTask: 7).fg == .green)  // ok
        #expect(style(ofTask: 10).fg == .red)  // error
        #expect(style(ofTask: 5).fg == .red)  // timeout
        #expect(style(ofTask: 4).fg == .magenta)  // aborted
        #expect(style(ofTask: 3).dim)  // pending
        #expect(style(ofTask: 2).reverse)  // selected
        #expect(!style(ofTask: 1).reverse)
    }

    @Test func rowCountText() {
        let snap = Fixture.snapshot(rows: 20, offset: 40, total: 250, matching: 100)
        #expect(TaskTable.rowsText(snap.table, shown: 20) == "rows 41-60 of 100 (filtered from 250)")
        #expect(TaskTable.rowsText(Fixture.snapshot(rows: 5, total: 5).table, shown: 5) == "rows 1-5 of 5")
        #expect(TaskTable.rowsText(.empty, shown: 0) == "rows 0 of 0")
    }

    @Test func flagsInTheHeader() {
        var ui = UIState()
        ui.frozen = true
        let c = frame(Fixture.snapshot(paused: true), ui)
        #expect(c.lines[0].contains("PAUSED"))
        #expect(c.lines[0].contains("FROZEN"))
        #expect(c.lines[0].contains("? help"))
        let narrow = frame(Fixture.snapshot(paused: true), ui, cols: 60)
        #expect(narrow.lines[0].contains("PAUSED") && narrow.lines[0].contains("FROZEN"))
    }

    @Test func deadEngineShowsItsReason() {
        let c = frame(Fixture.snapshot(engines: 4, dead: true))
        let row = c.lines.first { $0.contains("dead") && $0.contains("signal 9") }
        #expect(row != nil)
        #expect(c.lines[1].contains("1 dead"))
    }

    @Test func wideTextKeepsTheGrid() {
        var snap = Fixture.snapshot(rows: 3)
        snap.table.rows[0].text = "echo 任务日志输出很长很长很长很长很长很长很长很长很长很长 \u{1B}[31mred\t\n"
        for cols in [60, 80, 81, 100, 157] {
            let c = frame(snap, cols: cols)
            #expect(widths(c).allSatisfy { $0 == cols })
            #expect(!c.text.contains("\u{1B}"))
        }
    }

    @Test func detailViewShowsMetadataAndOutput() {
        var ui = UIState()
        ui.mode = .detail
        ui.detailTask = TaskID(17)
        ui.detail = Fixture.metadata(
            17, status: .error, stdout: "289\n", stderr: "warning: x\n", error: "exit status 1")
        let c = frame(Fixture.snapshot(), ui, rows: 40, cols: 100)
        for s in [
            "Task 17", "status", "error", "exit status 1", "msg_id", "submitted", "started", "completed", "duration",
            "2.6s",
            "stdout: 1 line", "289", "stderr: 1 line", "warning: x", "engine     2 on localhost", "retries",
        ] {
            #expect(c.text.contains(s), "\(s)")
        }
        #expect(c.lines[39].contains("Esc back"))
    }

    @Test func detailScrollsAndWrapsLongOutput() {
        var ui = UIState()
        ui.mode = .detail
        ui.detailTask = TaskID(1)
        let out = (1...200).map { "line \($0)" }.joined(separator: "\n") + "\n" + String(repeating: "x", count: 300)
        ui.detail = Fixture.metadata(1, stdout: out)
        let top = frame(Fixture.snapshot(), ui)
        #expect(top.text.contains("status"))
        #expect(!top.text.contains("line 200"))
        ui.detailScroll = Int.max
        let bottom = frame(Fixture.snapshot(), ui)
        #expect(bottom.text.contains("xxxxxxxx"))
        #expect(bottom.text.contains("stderr: empty"))
        #expect(
            bottom.text.contains(
                "of \(viewport(for: Fixture.snapshot(), ui, size: Size(rows: 24, cols: 80), capabilities: color).detailLines)"
            ))
    }

    @Test func promptLineAndCursor() {
        var ui = UIState()
        _ = ui.handle(.char("s"), snapshot: nil)
        for ch in "echo {} ::: 1..3" { _ = ui.handle(.char(ch), snapshot: nil) }
        _ = ui.handle(.left, snapshot: nil)
        let c = frame(Fixture.snapshot(), ui)
        #expect(c.lines[23].hasPrefix("submit> echo {} ::: 1..3"))
        #expect(c.lines[22].contains("TEMPLATE ::: ARGS"))
        // The cursor sits on the "3" (reverse video).
        let col = "submit> echo {} ::: 1..".count
        #expect(c[23, col].text == "3")
        #expect(c[23, col].style.reverse)
    }

    @Test func quitQuestionAndMessages() {
        var ui = UIState()
        ui.confirmingQuit = true
        #expect(frame(Fixture.snapshot(), ui).lines[23].contains("Quit? (y/n)"))
        var m = UIState()
        m.message = StatusMessage("submit failed, nothing submitted: no :::", isError: true)
        let c = frame(Fixture.snapshot(), m)
        #expect(c.lines[23].contains("submit failed"))
        #expect(c[23, 2].style.bg == .red)
    }

    @Test func focusIsMarked() {
        var ui = UIState()
        let t = frame(Fixture.snapshot(), ui)
        #expect(t.lines[t.row(containing: "Tasks")!].contains("▶ Tasks"))
        #expect(!t.lines[1].contains("▶"))
        ui.focus = .engines
        let e = frame(Fixture.snapshot(), ui)
        #expect(e.lines[1].contains("▶ Engines"))
        #expect(e[3, 10].style.reverse)  // the selected engine
    }

    @Test func emptySchedulerGuidesTheUser() {
        let snap = Snapshot(
            time: t0, startedAt: t0, generation: 0, paused: false, totals: StatusCounts(), rate: 0, engines: [],
            batches: [],
            batchCount: 0, table: .empty)
        let c = frame(snap)
        #expect(c.text.contains("no engines"))
        #expect(c.text.contains("no batches yet"))
        #expect(c.text.contains("no tasks yet"))
    }

    @Test func frameCostDoesNotDependOnTaskCount() {
        // Only the window is drawn: a million tasks in all changes nothing but the counters.
        var snap = Fixture.snapshot(rows: 20, total: 1_000_000)
        snap.totals.pending = 999_000
        let c = frame(snap)
        #expect(c.text.contains("of 1000000"))
        #expect(c.lines[0].contains("tasks"))
    }
}

private func format3(_ i: Int) -> String { String(repeating: " ", count: 4 - String(i).count) + String(i) }

private func allASCII(_ s: String) -> Bool { s.unicodeScalars.allSatisfy { $0.isASCII } }
private func widths(_ c: Canvas) -> [Int] { c.lines.map(displayWidth) }
private func colourless(_ c: Canvas) -> Bool { c.styles.allSatisfy { $0.fg == .default && $0.bg == .default } }
private func isReverse(_ s: Style) -> Bool { s.reverse }
