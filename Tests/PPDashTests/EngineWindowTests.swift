import PPSource
import PPTerm
import Testing

@testable import PPDash
@testable import PPKit

/// An engine that takes tasks and never runs them: a thousand of them cost nothing.
final class IdleEngine: Engine {
    let info = EngineInfo(kind: .connected, host: "far", pid: 0, cores: 1)
    var highWaterMark: Int { 1 }
    var runsClosures: Bool { false }
    func start(id: EngineID, sink: any EngineSink) {}
    func run(_ assignment: Assignment) {}
    func cancel(_ task: TaskID, reason: CancelReason) {}
    func shutdown(graceful: Bool) {}
    func reportedMeters() -> EngineMeters? { nil }
}

@Suite("Engine rows windowed in the dashboard")
struct DashEngineWindowTests {
    static func dashboard(engines n: Int, size: Size = Size(rows: 30, cols: 100)) -> (DashboardController, Client) {
        let scheduler = Scheduler(seed: 1)
        let client = Client(scheduler: scheduler, engineFactory: { IdleEngine() })
        for _ in 0..<n { scheduler.addEngine(IdleEngine()) }
        let c = DashboardController(source: LocalSource(client: client), size: size, capabilities: color)
        return (c, client)
    }

    @Test("1,000 engines: each snapshot carries at most the rows the pane shows; the counts are all of them")
    func rowsPerSnapshot() {
        let (c, client) = Self.dashboard(engines: 1000)
        defer { client.shutdown() }
        c.poll()
        let rows = c.state.viewport.engineRows
        #expect(rows > 0 && rows < 20)
        #expect(c.snapshot.engines.count <= rows, "\(c.snapshot.engines.count) engine rows for \(rows) shown")
        #expect(c.snapshot.engineCount == 1000)
        let frame = c.frame()
        #expect(frame.row(containing: "Engines 1000") != nil)
        #expect(frame.row(containing: "1000 idle") != nil)
        #expect(frame.lines[0].contains("0/1000"), "\(frame.lines[0])")
        // Scrolling to the end: the last window, still no more rows than shown.
        c.handle(.tab)
        c.handle(.char("G"))
        c.poll()
        #expect(c.state.engineSelected == 999)
        #expect(c.snapshot.engines.count <= rows)
        #expect(c.snapshot.engines.last?.id == 999)
        let end = c.frame()
        #expect(end.row(containing: "\(1000 - rows + 1)-1000 of 1000") != nil)
        // With the task stream shown at 200x50, the lanes are aggregated to the pane's rows by the scheduler.
        let (big, bigClient) = Self.dashboard(engines: 1000, size: Size(rows: 50, cols: 200))
        defer { bigClient.shutdown() }
        big.poll()
        let lanes = big.snapshot.lanes?.lanes.count ?? 0
        #expect(lanes > 0 && lanes <= 12, "\(lanes) lanes")
        #expect(big.snapshot.engines.allSatisfy { $0.timeline == nil })
        #expect(big.frame().row(containing: "1000 engines,") != nil)
    }

    @Test("x and the mouse act on the engine shown, wherever the window is")
    func actOnTheWindow() throws {
        let (c, client) = Self.dashboard(engines: 300)
        defer { client.shutdown() }
        c.handle(.tab)
        c.handle(.char("G"))
        c.handle(.char("k"))
        #expect(c.state.engineSelected == 298)
        c.handle(.char("x"))
        #expect(client.scheduler.read(batchLimit: 0).engines[298].excluded)
        #expect(c.state.message?.text.contains("engine 298 excluded") == true)
        c.poll()
        #expect(c.frame().row(containing: "excluded") != nil)
        // A click on the pane's first row selects the window's first engine.
        let lay = layout(for: c.snapshot, size: c.size, ui: c.state)
        c.handle(.mouse(MouseEvent(.press(1), row: lay.engines.row + 2, col: 5)))
        let first = 300 - lay.engineRows
        #expect(c.state.engineSelected == first)
        // Enter filters the table by the selected engine's id.
        c.handle(.enter)
        #expect(c.state.filter == "e\(first)")
    }
}
