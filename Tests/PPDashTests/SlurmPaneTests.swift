import PPTerm
import Testing

@testable import PPDash
import PPKit
import PPSource

@Suite("Engines pane: Slurm jobs")
struct SlurmPaneTests {
    /// Four engines: two Slurm jobs connected (one on node7), one queued, one dead; width 140 (the meters leave the note its first words).
    func frame() -> Canvas {
        var snap = Fixture.snapshot(engines: 4)
        let slurm = EngineInfo(kind: .slurm, host: "job 12_0", pid: 0, cores: 0)
        snap.engines[0].info = slurm
        snap.engines[0].job = EngineJob(id: "12_0", state: "RUNNING", node: "node7", timeLeft: "59:58", connected: true)
        snap.engines[1].info = slurm
        snap.engines[1].state = .idle
        snap.engines[1].job = EngineJob(id: "12_1", state: "PENDING", reason: "Priority")
        snap.engines[3].info = slurm
        snap.engines[3].state = .dead(reason: "Slurm job 12_3 reached its time limit")
        snap.engines[3].job = EngineJob(id: "12_3", state: "TIMEOUT")
        var ui = UIState()
        let size = Size(rows: 30, cols: 140)
        ui.viewport = viewport(for: snap, ui, size: size, capabilities: color)
        ui.reconcile(with: snap)
        return render(snap, ui, size: size, capabilities: color)
    }

    @Test("a queued job's row says queued with Slurm's reason; a running one its node and time left; the header counts queued apart")
    func rows() {
        let c = frame()
        #expect(c.lines[0].contains("engines 2/2 busy of 4, 1 queued"), "\(c.lines[0])")
        let queued = c.row(containing: "job 12_1").map { c.lines[$0] } ?? ""
        #expect(queued.contains("queued") && queued.contains("job 12_1 PENDING (Priority)"), "\(queued)")
        let running = c.row(containing: "job 12_0").map { c.lines[$0] } ?? ""
        #expect(running.contains("node7") && running.contains("job 12_0 RUNNING on node7, 5"), "\(running)")
        #expect(c.lines.contains { $0.contains("Slurm job 12_3 reached its time limit") })
        #expect(c.lines.contains { $0.contains("1 queued") && $0.contains("Engines 4") })
    }
}
