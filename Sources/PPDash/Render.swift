// The whole frame as a pure function of the snapshot and the view state, so layout is tested without a terminal.
import PPKit
import PPSource
import PPTerm
import Synchronization

/// The layout for a snapshot at a size (how many engines and bars it wants decide the split).
public func layout(for snapshot: Snapshot, size: Size, ui: UIState? = nil) -> Layout {
    Layout(
        size: size, engines: snapshot.engineCount, bars: ProgressPane.wantedRows(snapshot),
        streamLanes: ui.map { streamLanes(snapshot, $0, size: size) } ?? 0)
}

/// Task-stream lanes wanted: all engines' when the stream is on (`t`, or by default from `Layout.streamAutoRows`
/// rows), none otherwise.
public func streamLanes(_ snapshot: Snapshot, _ ui: UIState, size: Size) -> Int {
    guard ui.streamShown ?? (size.rows >= Layout.streamAutoRows && !ui.streamUnsupported) else { return 0 }
    return TaskStream.wantedLanes(snapshot)
}

/// Draws one frame: header, engines, progress, task table and status line, or the detail/help overlays over them.
///
/// `calm`, when given, is an older snapshot (see `DashboardController.calmInterval`): the header, the engine rows and
/// the progress widget's clocks and rates come from it, the bars, counts and the table from `snapshot`.
public func render(
    _ snapshot: Snapshot, _ ui: UIState, size: Size, capabilities: TermCapabilities, calm: Snapshot? = nil
) -> Canvas {
    let slow = calm.map { snapshot.calmed(by: $0) } ?? snapshot
    var canvas = Canvas(rows: size.rows, cols: size.cols)
    let ctx = RenderContext(
        theme: Theme(colors: capabilities.colors && ui.theme != .mono, light: ui.theme == .light),
        glyphs: .for(unicode: capabilities.unicode), now: snapshot.time)
    let lay = layout(for: snapshot, size: size, ui: ui)
    if lay.tooSmall {
        drawTooSmall(into: &canvas, size: size, ctx: ctx)
        return canvas
    }
    HeaderLine.draw(into: &canvas, rect: lay.header, snapshot: slow, ui: ui, ctx: ctx)
    if ui.mode == .detail {
        let lines = detailLines(ui, size: size, ctx: ctx)
        DetailView.draw(into: &canvas, rect: lay.overlay, ui: ui, lines: lines, ctx: ctx)
    } else {
        EnginesPane.draw(into: &canvas, rect: lay.engines, rows: lay.engineRows, snapshot: slow, ui: ui, ctx: ctx)
        if lay.sideBySide {
            canvas.fill(
                row: lay.engines.row + 1, col: lay.engines.right, width: 1, height: lay.engines.height - 1,
                char: ctx.glyphs.vline, style: ctx.theme.rule)
            canvas.put(String(ctx.glyphs.teeDown), row: lay.engines.row, col: lay.engines.right, style: ctx.theme.rule)
            canvas.put(String(ctx.glyphs.teeUp), row: lay.table.row, col: lay.engines.right, style: ctx.theme.rule)
        }
        // The bars and the header read one snapshot (the calm one): their numbers never disagree.
        ProgressPane.draw(into: &canvas, rect: lay.progress, rows: lay.barRows, snapshot: slow, ui: ui, ctx: ctx)
        if lay.streamRows > 0 {
            TaskStream.draw(into: &canvas, rect: lay.stream, snapshot: slow, ui: ui, ctx: ctx)
        }
        TaskTable.draw(into: &canvas, rect: lay.table, rows: lay.tableRows, snapshot: snapshot, ui: ui, ctx: ctx)
    }
    if ui.showTriage {
        TriageView.draw(into: &canvas, rect: lay.overlay, ui: ui, ctx: ctx)
    }
    if ui.showColumns {
        ColumnChooser.draw(into: &canvas, rect: ColumnChooser.frame(in: lay.overlay), ui: ui, ctx: ctx)
    }
    if ui.showHelp {
        let frame = HelpView.frame(in: lay.overlay)
        HelpView.draw(
            into: &canvas, rect: frame, ui: ui, lines: HelpView.lines(width: frame.width - 4, ctx: ctx, readOnly: ui.readOnly), ctx: ctx)
    }
    StatusLine.draw(into: &canvas, rect: lay.status, ui: ui, snapshot: snapshot, ctx: ctx)
    return canvas
}

extension Snapshot {
    /// This snapshot with what `calm` holds for the figures read at a glance: the clock, the rate, the totals, the
    /// batches' bars and the engine rows (one snapshot for all, so the header and the bars agree). Dispatch state
    /// (paused) and the table stay this snapshot's own.
    func calmed(by calm: Snapshot) -> Snapshot {
        var s = self
        s.time = calm.time
        s.rate = calm.rate
        s.totals = calm.totals
        s.engines = calm.engines
        s.engineFirst = calm.engineFirst
        s.engineTotal = calm.engineTotal
        s.engineTally = calm.engineTally
        s.lanes = calm.lanes
        s.batches = calm.batches
        s.batchCount = calm.batchCount
        s.startedAt = calm.startedAt
        return s
    }

    /// Whether `newer` differs from this snapshot in what must show at once: engines joining, dying or draining,
    /// batches submitted or finishing, tasks added.
    func calmIsStale(comparedTo newer: Snapshot) -> Bool {
        // The rows shown are another window (the pane scrolled, engines came or went): show them at once.
        guard engineCount == newer.engineCount, engineFirst == newer.engineFirst, engines.count == newer.engines.count,
            batchCount == newer.batchCount,
            totals.total == newer.totals.total, totals.done < totals.total || newer.totals.done == totals.done,
            // Engines taking up work show at once (else they look idle for a second after a submit); the brief idle
            // flickers between tasks of a streaming batch do not (they would cost bytes for nothing).
            newer.busyEngines <= busyEngines, (totals.running == 0) == (newer.totals.running == 0)
        else { return true }
        // Engines dying, draining, queued or excluded show at once, wherever they are (the counts say so).
        var a = engineCounts
        var b = newer.engineCounts
        (a.busy, a.idle, b.busy, b.idle) = (0, 0, 0, 0)
        if a != b { return true }
        for (a, b) in zip(engines, newer.engines)
        where a.id != b.id || a.excluded != b.excluded || a.state != b.state && !(a.state.isWorking && b.state.isWorking) {
            return true
        }
        if (lanes == nil) != (newer.lanes == nil) || lanes?.lanes.count != newer.lanes?.lanes.count { return true }
        let finished = Set(batches.filter(\.isDone).map(\.id))
        return newer.batches.contains { $0.isDone && !finished.contains($0.id) }
    }
}

extension EngineState {
    /// Busy or idle: the flips a calm view may show late.
    var isWorking: Bool { self == .busy || self == .idle }
}

/// The detail view's wrapped lines for the current task at this size (cached: big outputs are costly to wrap every frame).
func detailLines(_ ui: UIState, size: Size, ctx: RenderContext) -> [DetailView.Line] {
    let width = max(1, size.cols - 4)
    guard let m = ui.detail, m.status.isFinished else {
        return DetailView.lines(ui.detail, id: ui.detailTask, width: width, now: ctx.now, ctx: ctx, meters: ui.detailMeters)
    }
    let key = DetailCache.Key(
        id: m.id, status: m.status, retries: m.retries, stdout: m.stdout.totalBytes,
        stderr: m.stderr.totalBytes,
        error: m.error?.utf8.count ?? -1, width: width, unicode: ctx.unicode, colors: ctx.theme.colors)
    return DetailCache.shared.lines(for: key) {
        DetailView.lines(m, id: ui.detailTask, width: width, now: ctx.now, ctx: ctx)
    }
}

/// The last finished task's wrapped detail lines, so scrolling a large output does not re-wrap it every frame.
final class DetailCache: Sendable {
    /// What the lines depend on (a finished task's record no longer changes but for retries).
    struct Key: Hashable, Sendable {
        var id: TaskID
        var status: TaskStatus
        var retries: Int
        var stdout: Int
        var stderr: Int
        var error: Int
        var width: Int
        var unicode: Bool
        var colors: Bool
    }
    static let shared = DetailCache()
    private let entry = Mutex<(Key, [DetailView.Line])?>(nil)

    func lines(for key: Key, make: () -> [DetailView.Line]) -> [DetailView.Line] {
        if let hit = entry.withLock({ $0?.0 == key ? $0?.1 : nil }) { return hit }
        let lines = make()
        entry.withLock { $0 = (key, lines) }
        return lines
    }
}

/// The viewport a layout gives the UI state (page sizes, scroll limits).
public func viewport(for snapshot: Snapshot, _ ui: UIState, size: Size, capabilities: TermCapabilities) -> Viewport {
    let lay = layout(for: snapshot, size: size, ui: ui)
    let ctx = RenderContext(
        theme: Theme(colors: capabilities.colors), glyphs: .for(unicode: capabilities.unicode), now: snapshot.time)
    var v = Viewport()
    v.tableRows = max(1, lay.tableRows)
    v.engineRows = max(1, lay.engineRows)
    v.streamCells = lay.streamRows > 0 ? TaskStream.cells(forWidth: lay.stream.width) : 0
    v.streamLanes = lay.streamRows
    v.detailRows = lay.overlayTextRows
    v.detailLines = ui.mode == .detail ? detailLines(ui, size: size, ctx: ctx).count : 0
    let help = HelpView.frame(in: lay.overlay)
    v.helpRows = max(1, help.height - 2)
    v.triageRows = TriageView.groupRows(height: lay.overlay.height)
    v.helpLines = ui.showHelp ? HelpView.lines(width: help.width - 4, ctx: ctx, readOnly: ui.readOnly).count : 0
    return v
}

/// One centred line saying how much room the dashboard needs.
func drawTooSmall(into canvas: inout Canvas, size: Size, ctx: RenderContext) {
    guard size.rows > 0, size.cols > 0 else { return }
    let m = Layout.minimum
    var text = "ppdash needs at least \(m.cols)x\(m.rows); this terminal is \(size.cols)x\(size.rows)"
    if displayWidth(text) > size.cols { text = "need \(m.cols)x\(m.rows), have \(size.cols)x\(size.rows)" }
    if displayWidth(text) > size.cols { text = "\(m.cols)x\(m.rows)" }
    let col = max(0, (size.cols - displayWidth(text)) / 2)
    canvas.put(text, row: size.rows / 2, col: col, style: ctx.theme.warn, width: size.cols)
}
