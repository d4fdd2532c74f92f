import PPTerm
import Testing

@testable import PPDash
import PPKit
@testable import PPSource

@Suite("Mouse and clipboard")
struct MouseCopyTests {
    let size = Size(rows: 24, cols: 80)

    func controller(_ source: FakeSource = FakeSource()) -> DashboardController {
        DashboardController(source: source, size: size, capabilities: color)
    }

    @Test("SGR reports decode to clicks, releases and the wheel; motion and junk do not")
    func sgr() {
        #expect(MouseEvent.sgr("0;10;12M") == MouseEvent(.press(1), row: 11, col: 9))
        #expect(MouseEvent.sgr("2;1;1M") == MouseEvent(.press(3), row: 0, col: 0))
        #expect(MouseEvent.sgr("0;10;12m") == MouseEvent(.release, row: 11, col: 9))
        #expect(MouseEvent.sgr("64;5;5M") == MouseEvent(.wheelUp, row: 4, col: 4))
        #expect(MouseEvent.sgr("65;5;5M") == MouseEvent(.wheelDown, row: 4, col: 4))
        #expect(MouseEvent.sgr("16;3;4M") == MouseEvent(.press(1), row: 3, col: 2))  // ctrl-click
        for junk in ["32;1;1M", "0;0;1M", "0;1M", "0;1;1", "x;1;1M", "0;1;99999999M", "-1;1;1M", ";;M", "0;1;1;1M"] {
            #expect(MouseEvent.sgr(junk) == nil, "\(junk)")
        }
    }

    @Test("a click on a task row selects it, on a heading sorts by it (again: flips), on an engine selects it")
    func clicks() {
        let c = controller()
        let frame = c.frame()
        let tasks = frame.row(containing: "Tasks")!
        // The third task row.
        c.handle(.mouse(MouseEvent(.press(1), row: tasks + 4, col: 10)))
        #expect(c.state.focus == .table)
        #expect(c.state.selected == 2)
        #expect(c.state.selectedRow(in: c.snapshot)?.id == c.snapshot.table.rows[2].id)
        // The Status heading.
        let headings = c.frame().lines[tasks + 1]
        let statusCol = headings.distance(
            from: headings.startIndex, to: headings.range(of: "Stat")!.lowerBound)
        c.handle(.mouse(MouseEvent(.press(1), row: tasks + 1, col: statusCol + 1)))
        #expect(c.state.sort == .status && c.state.ascending)
        c.handle(.mouse(MouseEvent(.press(1), row: tasks + 1, col: statusCol + 1)))
        #expect(c.state.sort == .status && !c.state.ascending)
        #expect(c.frame().lines[tasks].contains("sort Status"))
        // An engine row.
        let engines = frame.row(containing: "Engines")!
        c.handle(.mouse(MouseEvent(.press(1), row: engines + 3, col: 5)))
        #expect(c.state.focus == .engines && c.state.engineSelected == 1)
        // The wheel over the table moves down there.
        c.handle(.mouse(MouseEvent(.wheelDown, row: tasks + 3, col: 5)))
        #expect(c.state.focus == .table && c.state.selected == 3)
        // Clicks on the header line or with an overlay open do nothing.
        c.handle(.mouse(MouseEvent(.press(1), row: 0, col: 5)))
        #expect(c.state.selected == 3)
        c.handle(.char("?"))
        c.handle(.mouse(MouseEvent(.press(1), row: tasks + 4, col: 10)))
        #expect(c.state.selected == 3 && c.state.showHelp)
    }

    @Test("m toggles the mouse and says what it means; --no-mouse starts with it off")
    func toggle() {
        let c = controller()
        #expect(c.state.mouse)
        c.handle(.char("m"))
        #expect(!c.state.mouse)
        #expect(c.state.message?.text.contains("selection") == true)
        #expect(DashboardOptions().mouse)
    }

    @Test("y copies the selected task's command: bytes handed over for OSC 52, a message with the byte count")
    func copyCommand() throws {
        let c = controller()
        c.handle(.down)
        let row = try #require(c.state.selectedRow(in: c.snapshot))
        c.handle(.char("y"))
        let bytes = try #require(c.pendingClipboard)
        #expect(bytes == Array(row.text.utf8))
        let text = try #require(c.state.message?.text)
        #expect(text.contains("task \(row.id)'s command"))
        #expect(text.contains("\(bytes.count) bytes"))
        #expect(osc52(Array("hi".utf8)) == "\u{1B}]52;c;aGk=\u{07}")
    }

    @Test("in the detail view y copies the output file's path, or the output when it has no file")
    func copyInDetail() throws {
        var ui = UIState()
        ui.mode = .detail
        ui.detailTask = TaskID(7)
        var m = Fixture.metadata(7)
        ui.detail = m
        let inMemory = ui.handle(.char("y"), snapshot: Fixture.snapshot())
        #expect(inMemory == [.copy(text: "16\n", what: "task 7's output (it has no output file)")])
        m.stdout.spool = "/tmp/ppdash-spool/7.out"
        ui.detail = m
        #expect(ui.handle(.char("y"), snapshot: Fixture.snapshot()) == [.copy(text: "/tmp/ppdash-spool/7.out", what: "task 7's output file path")])
    }

    @Test("too much to copy is refused with a clear message; nothing is sent")
    func copyTooBig() {
        let c = controller()
        c.copy(String(repeating: "x", count: clipboardLimit + 1), what: "a huge thing")
        #expect(c.pendingClipboard == nil)
        #expect(c.state.message?.isError == true)
        #expect(c.state.message?.text.contains("not copied") == true)
    }
}

@Suite("One number, one source; papercuts")
struct OneSourceTests {
    let size = Size(rows: 30, cols: 100)

    @Test("the header and the bars read the same snapshot: mid-batch they never disagree")
    func headerAgreesWithBars() {
        let old = Fixture.snapshot(batches: 2)
        var fresh = old
        fresh.batches[1].counts.ok += 13
        fresh.batches[1].counts.pending -= 13
        fresh.totals.ok += 13
        fresh.totals.pending -= 13
        fresh.time = old.time.adding(seconds: 0.4)
        let c = render(fresh, UIState(), size: size, capabilities: color, calm: old)
        let header = c.lines[0]
        let done = old.totals.done
        #expect(header.contains("\(done)/200"), "\(header)")
        let p = c.row(containing: "Progress")!
        #expect(c.lines[p + 2].contains("\(old.batches[1].counts.done)/100"), "\(c.lines[p + 2])")
        #expect(c.lines[p + 3].contains("\(done)/200"), "\(c.lines[p + 3])")
        #expect(!c.text.contains("\(fresh.totals.done)/200"))
    }

    @Test("the header's elapsed time and rate are the current work's, not the dashboard's idle life")
    func headerClockIsTheWork() {
        var s = Fixture.snapshot(batches: 1)
        s.startedAt = t0.adding(seconds: -3600)  // the dashboard sat idle for an hour first
        let header = render(s, UIState(), size: size, capabilities: color).lines[0]
        #expect(!header.contains("1h"), "\(header)")
        let w = ProgressPane.work(s)
        #expect(header.contains("elapsed " + Format.duration(w.elapsed)))
        #expect(header.contains(Format.rate(s.batches[0].rate)))
    }

    @Test("while dispatch is paused the ETA says paused")
    func pausedETA() {
        let s = Fixture.snapshot(paused: true)
        let c = render(s, UIState(), size: size, capabilities: color)
        let p = c.row(containing: "Progress")!
        #expect(c.lines[p + 2].contains("paused"), "\(c.lines[p + 2])")
        #expect(c.lines[p + 3].contains("paused"))
        #expect(!render(Fixture.snapshot(), UIState(), size: size, capabilities: color).lines[p + 2].contains("paused"))
    }

    @Test("the help's every line fits at 120 columns, and it states the Esc rule")
    func helpFits() {
        var ui = UIState()
        ui.showHelp = true
        for cols in [60, 80, 120, 200] {
            let ctx = RenderContext(theme: Theme(colors: true), glyphs: .utf8, now: t0)
            let frame = HelpView.frame(in: Layout(size: Size(rows: 40, cols: cols), engines: 4, bars: 3).overlay)
            for line in HelpView.lines(width: frame.width - 4, ctx: ctx) {
                #expect(line.reduce(0) { $0 + displayWidth($1.text) } <= frame.width - 4, "\(line.map(\.text))")
            }
        }
        let text = HelpView.lines(width: 92, ctx: RenderContext(theme: Theme(colors: true), glyphs: .utf8, now: t0))
            .map { $0.map(\.text).joined() }.joined(separator: " ")
        #expect(text.contains("Esc closes the topmost thing"))
        #expect(text.contains("started ppdash."))
        #expect(HelpView.wordWrap("aa bb cc", width: 5) == ["aa bb", "cc"])
    }

    @Test("one Esc closes the topmost thing: the filter goes with its message in one press")
    func oneEsc() {
        var ui = UIState()
        ui.filter = "error"
        ui.message = StatusMessage("something")
        _ = ui.handle(.escape, snapshot: Fixture.snapshot())
        #expect(ui.filter.isEmpty && ui.message == nil)
        ui.showHelp = true
        ui.mode = .detail
        _ = ui.handle(.escape, snapshot: Fixture.snapshot())
        #expect(!ui.showHelp && ui.mode == .detail)
        _ = ui.handle(.escape, snapshot: Fixture.snapshot())
        #expect(ui.mode == .main)
    }

    @Test("a read-only view hides keys that change the work (help and hints) and they do nothing")
    func readOnly() {
        var ui = UIState()
        ui.readOnly = true
        ui.attached = true
        #expect(ui.handle(.char("s"), snapshot: Fixture.snapshot()).isEmpty)
        #expect(ui.prompt == nil)
        #expect(ui.message?.text.contains("read-only") == true)
        #expect(ui.handle(.char("p"), snapshot: Fixture.snapshot()).isEmpty)
        let help = KeyMap.helpLines(readOnly: true).map(\.text)
        #expect(!help.contains { $0.contains("submit a batch") })
        #expect(!help.contains { $0.contains("pause or resume") })
        #expect(KeyMap.helpLines().map(\.text).contains { $0.contains("submit a batch") })
        #expect(StatusLine.hints(for: ui).allSatisfy { !$0.0.changesWork })
    }

    @Test("the header counts the engines the pane lists; a removed engine says removed, not dead")
    func enginesCounted() {
        var s = Fixture.snapshot(engines: 2)
        s.engines[0].state = .dead(reason: "removed")
        s.engines[1].state = .dead(reason: "exited with signal 9")
        let c = render(s, UIState(), size: size, capabilities: color)
        #expect(c.lines[0].contains("0/0 busy of 2") || c.lines[0].contains("eng 0/0 of 2"), "\(c.lines[0])")
        let e = c.row(containing: "Engines 2")!
        #expect(c.lines[e].contains("1 removed") && c.lines[e].contains("1 dead"))
        #expect(c.lines[e + 2].contains("removed"))
        #expect(!c.lines[e + 2].contains("dead"))
        #expect(c.lines[e + 3].contains("dead"))
    }

    @Test("sorting by Duration orders running tasks by their live duration: after the finished, oldest start last")
    func durationSortsRunningLive() {
        func key(started: Int64, completed: Int64) -> TaskKey {
            TaskKey(batch: 1, seq: 0, engine: 0, status: completed > 0 ? .ok : started > 0 ? .running : .pending,
                    retries: 0, submitted: 1, started: started, completed: completed)
        }
        let pending = TableIndex.value(key(started: 0, completed: 0), 0, .duration)
        let quick = TableIndex.value(key(started: 100, completed: 200), 1, .duration)
        let long = TableIndex.value(key(started: 100, completed: 9_000_000), 2, .duration)
        let runningLong = TableIndex.value(key(started: 50, completed: 0), 3, .duration)
        let runningShort = TableIndex.value(key(started: 5_000, completed: 0), 4, .duration)
        #expect(pending < quick && quick < long && long < runningShort && runningShort < runningLong)
    }

    @Test("follow anchors on the newest started task only while something runs (else the table's end)")
    func followWithNothingRunning() async throws {
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let source = LocalSource(client: client)
        _ = try source.submit(line: "true ::: 1..3")
        _ = try source.submit(line: "sleep 0.4 ::: 1")
        let deadline = ContinuousClock.now + .seconds(20)
        var reading = client.scheduler.read(batchLimit: 0)
        // While the sleep (task 4, index 3) runs, follow anchors on it.
        while !(reading.totals.done == 3 && reading.totals.running == 1) && reading.totals.done < 4,
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(10))
            reading = client.scheduler.read(batchLimit: 0)
        }
        if reading.totals.done == 3 { #expect(reading.newestStarted == 3) }
        while reading.totals.done < 4, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            reading = client.scheduler.read(batchLimit: 0)
        }
        #expect(reading.totals.done == 4)
        #expect(reading.newestStarted == nil)
        let snap = source.snapshot(TableQuery(limit: 2, follow: true))
        #expect(snap.table.offset == 2 && snap.table.rows.last?.id == TaskID(4))
    }
}
