// The task stream: one lane per engine (or per group of engines), time on the x axis, one cell a second, each cell
// showing how busy the engine was and how its tasks ended (or which batch they came from). Drawn from the fixed-size
// timelines the snapshot carries, so its cost does not grow with the tasks.
import PPKit
import PPSource
import PPTerm

enum TaskStream {
    /// One lane: its label and its cells, oldest first, the last one the second the snapshot was taken in; the
    /// first `absent` cells are from before its engine(s) existed (drawn blank, not as idle time).
    struct Lane: Equatable {
        var label: String
        var cells: [TimelineCell]
        var absent = 0
    }

    /// How engines were put into lanes.
    enum Grouping: Equatable {
        case perEngine
        case byHost
        case every(Int)
    }

    /// Columns the lane labels take at most.
    static let maxLabelWidth = 12

    /// Timeline cells a lane of a pane `width` columns wide shows (what the snapshot is asked for).
    static func cells(forWidth width: Int) -> Int {
        max(0, min(240, width - 5))
    }

    static func labelWidth(forWidth width: Int) -> Int { width >= 100 ? maxLabelWidth : 8 }

    /// The lanes for `engines` in at most `rows` rows: one per engine when they fit; else one per host when the hosts
    /// fit (and there are several); else `k` consecutive engines a lane.
    static func lanes(_ engines: [EngineSnapshot], rows: Int) -> (lanes: [Lane], grouping: Grouping) {
        let rows = max(1, rows)
        let timed = engines.filter { $0.timeline != nil }
        guard !timed.isEmpty else { return ([], .perEngine) }
        let width = timed.map { $0.timeline!.cells.count }.max() ?? 0
        let last = timed.map { $0.timeline!.lastCell }.max() ?? 0
        func aligned(_ e: EngineSnapshot) -> [TimelineCell] {
            // Lanes of one snapshot end on the same second; a lane that ends earlier is padded with idle cells.
            guard let t = e.timeline else { return [] }
            let shift = Int(max(0, min(Int64(width), last - t.lastCell)))
            var cells = Array(t.cells.dropFirst(shift))
            cells.append(contentsOf: repeatElement(TimelineCell.idle, count: shift))
            if cells.count < width { cells.insert(contentsOf: repeatElement(TimelineCell.idle, count: width - cells.count), at: 0) }
            return cells
        }
        /// Cells of a `width`-cell lane ending at `last` from before the engine started.
        func absent(_ e: EngineSnapshot) -> Int {
            guard let first = e.timeline?.firstCell else { return 0 }
            return Int(max(0, min(Int64(width), first - (last - Int64(width) + 1))))
        }
        if timed.count <= rows {
            return (timed.map { Lane(label: String($0.id), cells: aligned($0), absent: absent($0)) }, .perEngine)
        }
        var hosts: [String] = []
        var byHost: [String: [EngineSnapshot]] = [:]
        for e in timed {
            if byHost[e.info.host] == nil { hosts.append(e.info.host) }
            byHost[e.info.host, default: []].append(e)
        }
        if hosts.count > 1 && hosts.count <= rows {
            let lanes = hosts.map { h in
                Lane(
                    label: h.isEmpty ? "?" : h, cells: merge(byHost[h]!.map(aligned), width: width),
                    absent: byHost[h]!.map(absent).min() ?? 0)
            }
            return (lanes, .byHost)
        }
        let k = (timed.count + rows - 1) / rows
        var lanes: [Lane] = []
        var i = 0
        while i < timed.count {
            let group = Array(timed[i..<min(timed.count, i + k)])
            let label = group.count == 1 ? String(group[0].id) : "\(group.first!.id)-\(group.last!.id)"
            lanes.append(Lane(label: label, cells: merge(group.map(aligned), width: width), absent: group.map(absent).min() ?? 0))
            i += k
        }
        return (lanes, .every(k))
    }

    /// Several lanes' cells as one: the mean busy level, the worst outcome, the newest batch.
    static func merge(_ lanes: [[TimelineCell]], width: Int) -> [TimelineCell] {
        guard lanes.count > 1 else { return lanes.first ?? [] }
        return (0..<width).map { i in
            var busy = 0
            var worst = TimelineCell.Outcome.none
            var batch = 0
            for l in lanes where i < l.count {
                let c = l[i]
                busy += c.busyEighths
                if c.outcome.rawValue > worst.rawValue { worst = c.outcome }
                batch = max(batch, c.batch)
            }
            let mean = busy == 0 ? 0 : max(1, (busy + lanes.count / 2) / lanes.count)
            return TimelineCell(busyEighths: mean, outcome: worst, batch: batch)
        }
    }

    /// Where the window of `width` cells ends: time moves right, and the view jumps a quarter of its width at a time
    /// (not one cell a second), so a scrolling stream costs few bytes on a slow link. Returns how many of the last
    /// columns are still in the future (blank).
    static func futureColumns(lastCell: Int64, width: Int) -> Int {
        guard width > 0 else { return 0 }
        let step = Int64(max(1, width / 4))
        let end = (lastCell / step + 1) * step - 1  // the window's last column, the current step's end
        return Int(min(Int64(width - 1), max(0, end - lastCell)))
    }

    /// The glyph and style of a cell.
    static func look(_ c: TimelineCell, byBatch: Bool, ctx: RenderContext) -> (Character, Style) {
        let t = ctx.theme
        let g = ctx.glyphs
        if c.busyEighths == 0 && c.outcome == .none { return (g.unicode ? "·" : ".", t.dim) }
        let level = g.spark[max(g.unicode ? 0 : 1, min(7, c.busyEighths - 1))]
        let batchStyle = t.style(batchColors[c.batch % batchColors.count])
        switch c.outcome {
        case .error, .timeout:
            return (Character(g.cross), byBatch ? batchStyle : t.style(.red, bold: true))
        case .aborted:
            return (Character(g.cross), byBatch ? batchStyle : t.style(.magenta))
        case .running:
            return (level, byBatch ? batchStyle : t.style(.yellow, bold: true))
        case .ok, .none:
            return (level, byBatch ? batchStyle : t.good)
        }
    }

    static let batchColors: [Color] = [.cyan, .green, .blue, .magenta, .yellow, .white]

    /// Draws the pane: a titled rule (what a cell is, how lanes are grouped, the legend) and `rect.height - 1` lanes.
    static func draw(into canvas: inout Canvas, rect: Rect, snapshot: Snapshot, ui: UIState, ctx: RenderContext) {
        guard rect.height > 0, rect.width > 0 else { return }
        let t = ctx.theme
        let rows = rect.height - 1
        let (lanes, grouping) = Self.lanes(snapshot.engines, rows: rows)
        let cellsWide = lanes.first?.cells.count ?? 0
        var info: [Span] = [Span("1 s a cell, now at right", t.ruleInfo)]
        switch grouping {
        case .perEngine: break
        case .byHost: info.append(Span("\(snapshot.engines.count) engines, a lane per host", t.warn))
        case .every(let k): info.append(Span("\(snapshot.engines.count) engines, \(k) a lane", t.warn))
        }
        let g = ctx.glyphs
        let legend: [Span] =
            ui.streamByBatch
            ? [Span("colour: batch (T: outcome)", t.ruleInfo)]
            : [
                Span("\(g.barFull) ok", t.good), Span("\(g.barFull) running", t.style(.yellow, bold: true)),
                Span("\(g.cross) failed", t.style(.red, bold: true)), Span("\(g.unicode ? "·" : ".") idle", t.dim),
            ]
        canvas.rule(
            row: rect.row, col: rect.col, width: rect.width, title: "Task stream", focused: false, left: info,
            right: legend, ctx: ctx)
        guard rows > 0 else { return }
        if lanes.isEmpty {
            let why =
                snapshot.engines.isEmpty ? "no engines: press + to add one" : "this source keeps no task stream"
            canvas.put(why, row: rect.row + 1, col: rect.col + 2, style: t.dim, width: rect.width - 2)
            return
        }
        let labelWidth = min(Self.labelWidth(forWidth: rect.width), max(3, lanes.map { displayWidth($0.label) }.max() ?? 3))
        let x0 = rect.col + 1 + labelWidth + 1
        let width = max(0, min(cellsWide, rect.right - x0))
        let last = snapshot.engines.compactMap(\.timeline?.lastCell).max() ?? 0
        let future = futureColumns(lastCell: last, width: width)
        for (n, lane) in lanes.prefix(rows).enumerated() {
            let r = rect.row + 1 + n
            canvas.cell(lane.label, row: r, col: rect.col + 1, width: labelWidth, right: true, style: t.label, unicode: ctx.unicode)
            let shown = lane.cells.suffix(width - future)
            let blank = max(0, lane.absent - (lane.cells.count - shown.count))
            var x = x0 + (width - future) - shown.count
            for (i, c) in shown.enumerated() {
                if i >= blank {
                    let (ch, style) = look(c, byBatch: ui.streamByBatch, ctx: ctx)
                    canvas.put(String(ch), row: r, col: x, style: style)
                }
                x += 1
            }
        }
    }

    /// Lanes the pane wants for this snapshot (its rows less the title): one per engine, at least one.
    static func wantedLanes(_ snapshot: Snapshot) -> Int { max(1, snapshot.engines.count) }
}
