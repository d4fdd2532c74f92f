import PPTerm
import Testing

@testable import PPDash
@testable import PPKit
import PPSource

/// A timeline of `n` cells ending at `last`, built from a pattern: "." idle, "o" ok, "r" running, "x" error,
/// "a" aborted, "t" timeout, "h" half-busy ok.
func timeline(_ pattern: String, last: Int64 = 1_000, batch: Int = 1) -> EngineTimeline {
    let cells = pattern.map { ch -> TimelineCell in
        switch ch {
        case "o": TimelineCell(busyEighths: 8, outcome: .ok, batch: batch)
        case "h": TimelineCell(busyEighths: 4, outcome: .ok, batch: batch)
        case "r": TimelineCell(busyEighths: 8, outcome: .running, batch: batch)
        case "x": TimelineCell(busyEighths: 8, outcome: .error, batch: batch)
        case "a": TimelineCell(busyEighths: 3, outcome: .aborted, batch: batch)
        case "t": TimelineCell(busyEighths: 8, outcome: .timeout, batch: batch)
        default: .idle
        }
    }
    return EngineTimeline(cellSeconds: 1, lastCell: last, cells: cells)
}

/// `snapshot` with every engine given a timeline from `patterns` (cycled).
func withTimelines(_ snapshot: Snapshot, _ patterns: [String], last: Int64 = 1_000) -> Snapshot {
    var s = snapshot
    for i in s.engines.indices {
        s.engines[i].timeline = timeline(patterns[i % patterns.count], last: last, batch: 1 + i % 3)
    }
    return s
}

@Suite("Task stream")
struct TaskStreamTests {
    func frame(_ snap: Snapshot, _ ui: UIState = UIState(), rows: Int, cols: Int, caps: TermCapabilities = color)
        -> Canvas
    {
        var ui = ui
        ui.viewport = viewport(for: snap, ui, size: Size(rows: rows, cols: cols), capabilities: caps)
        ui.reconcile(with: snap)
        return render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: caps)
    }

    let pattern = String(repeating: "oooo..hx", count: 30) + "rrr"

    @Test("80x24: hidden by default, t shows a lane per engine with ids, glyphs, legend; the query asks for cells")
    func at80x24() {
        let snap = withTimelines(Fixture.snapshot(), [pattern])
        let plain = frame(snap, rows: 24, cols: 80)
        #expect(plain.row(containing: "Task stream") == nil)
        var ui = UIState()
        ui.streamShown = true
        let c = frame(snap, ui, rows: 24, cols: 80)
        let top = try! #require(c.row(containing: "Task stream"))
        let tasks = try! #require(c.row(containing: "Tasks"))
        #expect(top < tasks)
        #expect(c.lines[top].contains("1 s a cell"))
        #expect(c.lines[top].contains("idle"))
        let lanes = tasks - top - 1
        #expect(lanes >= 1 && lanes <= 4)
        for n in 0..<lanes {
            let line = c.lines[top + 1 + n]
            #expect(line.hasPrefix(" " + String(repeating: " ", count: 2) + "\(n)"), "\(line)")
            #expect(line.contains("█"))
            #expect(line.contains("·"))
            #expect(line.contains("✗"))
        }
        #expect(widthsOK(c, 80))
        // The stream asks the source for as many cells as its lanes show, and for none when hidden.
        var v = ui
        v.viewport = viewport(for: snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
        #expect(v.query.timelineCells == TaskStream.cells(forWidth: 80))
        var h = UIState()
        h.viewport = viewport(for: snap, h, size: Size(rows: 24, cols: 80), capabilities: color)
        #expect(h.query.timelineCells == nil)
    }

    @Test("200x50: shown by default, every engine a lane; colours by outcome; a running cell is yellow")
    func at200x50() {
        let snap = withTimelines(Fixture.snapshot(engines: 6), [pattern, "ooox" + String(repeating: ".", count: 100)])
        let c = frame(snap, rows: 50, cols: 200)
        let top = try! #require(c.row(containing: "Task stream"))
        #expect(widthsOK(c, 200))
        for id in 0..<6 { #expect(c.lines[top + 1 + id].contains(" \(id) "), "\(c.lines[top + 1 + id])") }
        // Lane 0 ends running (yellow), its failures are red crosses, its ok cells green.
        let lane = top + 1
        var sawRunning = false
        var sawError = false
        var sawOK = false
        for col in 0..<200 {
            let cell = c[lane, col]
            if cell.text == "✗" { sawError = sawError || cell.style.fg == .red }
            if cell.text == "█", cell.style.fg == .yellow { sawRunning = true }
            if cell.text == "█", cell.style.fg == .green { sawOK = true }
        }
        #expect(sawRunning && sawError && sawOK)
        // The half-busy cells show a lower block.
        #expect(c.lines[lane].contains("▄"))
    }

    @Test("T colours by batch: the cells take the batch's colour, the legend says so")
    func byBatch() {
        let snap = withTimelines(Fixture.snapshot(engines: 3), ["oooooooo"])
        var ui = UIState()
        ui.streamShown = true
        ui.streamByBatch = true
        let c = frame(snap, ui, rows: 30, cols: 100)
        let top = try! #require(c.row(containing: "Task stream"))
        #expect(c.lines[top].contains("colour: batch"))
        let colours = Set((0..<3).flatMap { n in (0..<100).map { c[top + 1 + n, $0] } }.filter { $0.text == "█" }.map(\.style.fg))
        #expect(colours.count == 3)
        var keys = UIState()
        _ = keys.handle(.char("T"), snapshot: snap)
        #expect(keys.streamByBatch)
    }

    @Test("more engines than rows: lanes aggregate k engines each, or by host when hosts fit, and say so")
    func aggregation() {
        var snap = withTimelines(Fixture.snapshot(engines: 40), ["oooo", "....", "xxxx"])
        var ui = UIState()
        ui.streamShown = true
        let c = frame(snap, ui, rows: 24, cols: 80)
        let top = try! #require(c.row(containing: "Task stream"))
        #expect(c.lines[top].contains("40 engines,"), "\(c.lines[top])")
        #expect(c.lines[top].contains("a lane"))
        let (lanes, grouping) = TaskStream.lanes(snap.engines, rows: 4)
        #expect(grouping == .every(10))
        #expect(lanes.count == 4)
        #expect(lanes[0].label == "0-9")
        // A merged lane keeps the worst outcome and the mean busy level.
        #expect(lanes[0].cells.last?.outcome == .error)
        // Two hosts: a lane per host.
        for i in snap.engines.indices { snap.engines[i].info.host = i < 20 ? "alpha" : "beta" }
        let (byHost, g2) = TaskStream.lanes(snap.engines, rows: 4)
        #expect(g2 == .byHost)
        #expect(byHost.map(\.label) == ["alpha", "beta"])
    }

    @Test("time moves right and the view jumps a quarter width at a time (few bytes while it scrolls)")
    func stepping() {
        #expect(TaskStream.futureColumns(lastCell: 99, width: 40) == 0)
        #expect(TaskStream.futureColumns(lastCell: 100, width: 40) == 9)
        #expect(TaskStream.futureColumns(lastCell: 105, width: 40) == 4)
        // Between two steps the cells already drawn keep their columns: the frame one second later differs only
        // in the new cell.
        let a = withTimelines(Fixture.snapshot(engines: 1), [String(repeating: "o.", count: 60)], last: 101)
        let b = withTimelines(Fixture.snapshot(engines: 1), [String(repeating: "o.", count: 60) + "o"], last: 102)
        var ui = UIState()
        ui.streamShown = true
        let fa = frame(a, ui, rows: 30, cols: 100)
        let fb = frame(b, ui, rows: 30, cols: 100)
        let top = try! #require(fa.row(containing: "Task stream"))
        let la = Array(fa.lines[top + 1])
        let lb = Array(fb.lines[top + 1])
        let diff = zip(la, lb).filter { $0 != $1 }.count
        #expect(diff == 1, "\(fa.lines[top + 1])\n\(fb.lines[top + 1])")
    }

    @Test("ASCII and monochrome: failures stay visible as x, idle as .")
    func asciiMono() {
        let snap = withTimelines(Fixture.snapshot(engines: 2), ["oo..xx"])
        var ui = UIState()
        ui.streamShown = true
        let c = frame(snap, ui, rows: 24, cols: 80, caps: ascii)
        let top = try! #require(c.row(containing: "Task stream"))
        #expect(c.lines.allSatisfy { $0.unicodeScalars.allSatisfy(\.isASCII) })
        #expect(c.lines[top + 1].contains("##..xx"))
    }

    @Test("a source without timelines (a journal, ipp) says so; no engines says how to add one")
    func noTimeline() {
        var ui = UIState()
        ui.streamShown = true
        let c = frame(Fixture.snapshot(), ui, rows: 24, cols: 80)
        #expect(c.row(containing: "this source keeps no task stream") != nil)
    }

    @Test("a source that gives no timelines when asked: the stream is not shown unasked at 200x50; t still shows it")
    func unsupportedSourceHidesIt() {
        let c = DashboardController(source: FakeSource(), size: Size(rows: 50, cols: 200), capabilities: color)
        c.poll(force: true)
        #expect(c.state.streamUnsupported)
        #expect(c.frame().row(containing: "Task stream") == nil)
        c.handle(.char("t"))
        #expect(c.frame().row(containing: "this source keeps no task stream") != nil)
    }

    @Test("seconds before an engine started are blank, not idle")
    func beforeTheEngine() {
        var snap = withTimelines(Fixture.snapshot(engines: 2), [String(repeating: ".", count: 90) + "oooo"], last: 1_000)
        snap.engines[1].timeline?.firstCell = 1_000 - 5
        var ui = UIState()
        ui.streamShown = true
        let c = frame(snap, ui, rows: 30, cols: 100)
        let top = try! #require(c.row(containing: "Task stream"))
        let older = c.lines[top + 1]
        let newer = c.lines[top + 2]
        #expect(older.filter { $0 == "·" }.count > 40)
        // It started 5 s before the last cell: 6 cells of its life, 2 of them idle.
        #expect(newer.filter { $0 == "·" }.count == 2, "\(newer)")
        #expect(newer.contains(" ··████"))
        let (lanes, _) = TaskStream.lanes(snap.engines, rows: 10)
        #expect(lanes[1].absent == lanes[1].cells.count - 6)
    }

    @Test("t toggles the stream off and on again")
    func toggle() {
        let snap = withTimelines(Fixture.snapshot(), [pattern])
        var ui = UIState()
        ui.viewport = viewport(for: snap, ui, size: Size(rows: 50, cols: 200), capabilities: color)
        #expect(ui.viewport.streamCells > 0)
        _ = ui.handle(.char("t"), snapshot: snap)
        #expect(ui.streamShown == false)
        ui.viewport = viewport(for: snap, ui, size: Size(rows: 50, cols: 200), capabilities: color)
        #expect(ui.viewport.streamCells == 0)
        _ = ui.handle(.char("t"), snapshot: snap)
        #expect(ui.streamShown == true)
    }

    @Test("the scheduler's ring: a run's busy share, its outcome in its last cell, running cells, fixed size")
    func ring() {
        var r = TimelineRing()
        let s: Int64 = 1_000_000
        r.record(from: 10 * s, to: 10 * s + s / 2, status: .ok, batch: 3)
        r.record(from: 11 * s, to: 13 * s + s / 4, status: .error, batch: 3)
        let t = r.timeline(now: 15 * s + s / 2, count: 8, running: (since: 14 * s + s / 2, batch: 4))
        #expect(t.cells.count == 8)
        #expect(t.lastCell == 15)
        let byCell = Dictionary(uniqueKeysWithValues: zip((8...15).map { Int64($0) }, t.cells))
        #expect(byCell[9]! == .idle)
        #expect(byCell[10]!.busyEighths == 4 && byCell[10]!.outcome == .ok && byCell[10]!.batch == 3)
        #expect(byCell[11]!.busyEighths == 8 && byCell[11]!.outcome == .ok)
        #expect(byCell[13]!.busyEighths == 2 && byCell[13]!.outcome == .error)
        #expect(byCell[14]!.outcome == .running && byCell[14]!.busyEighths == 4 && byCell[14]!.batch == 4)
        #expect(byCell[15]!.outcome == .running && byCell[15]!.busyEighths == 8)
        // A span longer than the ring (or an engine's clock gone wild) walks only the ring's cells.
        r.record(from: 1, to: 1_000_000 * s, status: .ok, batch: 1)
        #expect(r.timeline(now: 1_000_000 * s, count: 500, running: nil).cells.count == TimelineRing.count)
        // Past the ring, old cells read idle.
        #expect(r.timeline(now: 2_000_000 * s, count: 3, running: nil).cells.allSatisfy { $0 == .idle })
    }

    @Test("a real scheduler records its engines' runs: a snapshot asking for cells gets them, cost flat in tasks")
    func scheduler() async throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let source = LocalSource(client: client)
        let batch = try source.submit(line: "true ::: 1..6")
        // The whole ring: on a busy machine this test may look a long while after its tasks ran.
        let cellCount = TimelineRing.count
        var snap = source.snapshot(TableQuery(limit: 5, timelineCells: cellCount))
        let deadline = ContinuousClock.now + .seconds(20)
        while snap.batches.first(where: { $0.id == batch })?.isDone != true, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            snap = source.snapshot(TableQuery(limit: 5, timelineCells: cellCount))
        }
        #expect(snap.totals.ok == 6)
        #expect(snap.engines.count == 2 && snap.engines.allSatisfy { $0.timeline?.cells.count == cellCount })
        let cells = snap.engines.flatMap { $0.timeline?.cells ?? [] }
        #expect(cells.contains { $0.outcome == .ok && $0.busyEighths > 0 && $0.batch == batch })
        #expect(source.snapshot(TableQuery(limit: 5)).engines.allSatisfy { $0.timeline == nil })
    }
}

private func widthsOK(_ c: Canvas, _ cols: Int) -> Bool { c.lines.allSatisfy { displayWidth($0) == cols } }
