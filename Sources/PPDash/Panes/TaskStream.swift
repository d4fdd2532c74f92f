// The task stream: one lane per engine (or per group of engines), time on the x axis, one cell a second, each cell
// showing how busy the engine was and how its tasks ended (or which batch they came from). Drawn from the fixed-size
// timelines the snapshot carries, so its cost does not grow with the tasks.
import PPKit
import PPSource
import PPTerm

enum TaskStream {
    /// One lane (see `StreamLane`) and how engines were put into lanes (`LaneGrouping`).
    typealias Lane = StreamLane
    typealias Grouping = LaneGrouping

    /// Columns the lane labels take at most.
    static let maxLabelWidth = 12

    /// Timeline cells a lane of a pane `width` columns wide shows (what the snapshot is asked for).
    static func cells(forWidth width: Int) -> Int {
        max(0, min(240, width - 5))
    }

    static func labelWidth(forWidth width: Int) -> Int { width >= 100 ? maxLabelWidth : 8 }

    /// The lanes for `engines` (each with its own timeline) in at most `rows` rows: one per engine when they fit;
    /// else one per host when the hosts fit (and there are several); else `k` consecutive engines a lane, merged as
    /// the scheduler merges them (`StreamLanes.assign`, `LaneAccumulator`).
    static func lanes(_ engines: [EngineSnapshot], rows: Int) -> (lanes: [Lane], grouping: Grouping) {
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
        let (grouping, lane, hosts) = StreamLanes.assign(hosts: timed.map(\.info.host), rows: rows)
        let count = grouping == .byHost ? hosts.count : (lane.last ?? -1) + 1
        var acc = LaneAccumulator(lanes: count, width: width)
        var ids = [(first: Int, last: Int)?](repeating: nil, count: count)
        for (i, e) in timed.enumerated() {
            acc.add(aligned(e), lane: lane[i], absentCells: absent(e))
            ids[lane[i]] = (ids[lane[i]]?.first ?? e.id, e.id)
        }
        let lanes = (0..<count).map { l -> Lane in
            let label: String
            if grouping == .byHost {
                label = hosts[l].isEmpty ? "?" : hosts[l]
            } else {
                let r = ids[l] ?? (0, 0)
                label = r.first == r.last ? String(r.first) : "\(r.first)-\(r.last)"
            }
            return Lane(label: label, cells: acc.cells(l), absent: acc.absentCells(l))
        }
        return (lanes, grouping)
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
        // The source's aggregated lanes when it made them, else each engine row's own timeline.
        let (lanes, grouping) = snapshot.lanes.map { ($0.lanes, $0.grouping) } ?? Self.lanes(snapshot.engines, rows: rows)
        let cellsWide = lanes.first?.cells.count ?? 0
        let engineCount = snapshot.engineCount
        var info: [Span] = [Span("1 s a cell, now at right", t.ruleInfo)]
        switch grouping {
        case .perEngine: break
        case .byHost: info.append(Span("\(engineCount) engines, a lane per host", t.warn))
        case .every(let k): info.append(Span("\(engineCount) engines, \(k) a lane", t.warn))
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
                engineCount == 0 ? "no engines: press + to add one" : "this source keeps no task stream"
            canvas.put(why, row: rect.row + 1, col: rect.col + 2, style: t.dim, width: rect.width - 2)
            return
        }
        let labelWidth = min(Self.labelWidth(forWidth: rect.width), max(3, lanes.map { displayWidth($0.label) }.max() ?? 3))
        let x0 = rect.col + 1 + labelWidth + 1
        let width = max(0, min(cellsWide, rect.right - x0))
        let last = snapshot.lanes?.lastCell ?? snapshot.engines.compactMap(\.timeline?.lastCell).max() ?? 0
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
    static func wantedLanes(_ snapshot: Snapshot) -> Int { max(1, snapshot.engineCount) }
}
