// The progress widget, as the notebook's IntProgress: one bar per recent batch and a total bar.
import PPKit
import PPSource
import PPTerm

enum ProgressPane {
    enum Col: Hashable { case id, label, bar, count, percent, failed, elapsed, eta, rate }

    /// One line of the widget.
    struct Line {
        var id: String
        var label: String
        var counts: StatusCounts
        var elapsed: Double
        var eta: Double?
        var rate: Double
        var finished: Bool
        /// Its input is still being read: the count is not known (shown `?`).
        var open = false
        /// Dispatch is paused: the ETA says so instead of growing.
        var paused = false
    }

    /// The current work's clock and pace, the one source of the header's elapsed time and rate and of the total
    /// line: from the first batch shown to the last completion (or now, while tasks remain), so the dashboard's idle
    /// life before the work does not count. The only batch's own figures when there is one.
    static func work(_ snapshot: Snapshot) -> (elapsed: Double, rate: Double, eta: Double?, finished: Bool) {
        let totals = snapshot.totals
        let remaining = totals.total - totals.done
        let open = snapshot.batches.contains(where: \.open)
        if snapshot.batchCount == 1, let b = snapshot.batches.first {
            let end = b.finished ?? snapshot.time
            return (max(0, b.submitted.seconds(to: end)), b.rate, b.isDone ? 0 : b.eta, b.isDone)
        }
        guard let start = snapshot.batches.map(\.submitted).min() else { return (0, snapshot.rate, nil, remaining == 0) }
        let end = remaining == 0 ? (snapshot.batches.compactMap(\.finished).max() ?? snapshot.time) : snapshot.time
        let elapsed = max(0, start.seconds(to: end))
        let rate = remaining == 0 ? RateMeter.average(totals.done, seconds: elapsed) : snapshot.rate
        let eta: Double? = open ? nil : rate > 0 ? Double(remaining) / rate : (remaining == 0 ? 0 : nil)
        return (elapsed, rate, eta, remaining == 0 && !open)
    }

    /// How many bar rows the snapshot wants: its batches, plus a total when there is more than one.
    static func wantedRows(_ snapshot: Snapshot) -> Int {
        snapshot.batches.count + (snapshot.batchCount > 1 ? 1 : 0)
    }

    static func columns(width: Int, x: Int, countWidth: Int) -> [Placed<Col>] {
        fitColumns(
            [
                Column(id: .id, header: "", width: 4, right: true, priority: 90),
                Column(id: .label, header: "", width: 8, priority: 80, flex: true, maxWidth: 32),
                Column(id: .bar, header: "", width: 20, priority: 100, flex: true, weight: 2),
                Column(id: .count, header: "", width: countWidth, right: true, priority: 99),
                Column(id: .percent, header: "", width: 4, right: true, priority: 98),
                Column(id: .failed, header: "", width: 6, right: true, priority: 97),
                Column(id: .elapsed, header: "", width: 6, right: true, priority: 60),
                Column(id: .eta, header: "", width: 10, right: true, priority: 70),
                Column(id: .rate, header: "", width: 8, right: true, priority: 50),
            ], width: width, at: x)
    }

    /// Draws the bars from `snapshot`; a running batch's clock, ETA and rate come from `calm` (an older snapshot, or
    /// the same one), so they step once a second rather than every frame.
    static func draw(
        into canvas: inout Canvas, rect: Rect, rows: Int, snapshot: Snapshot, calm: Snapshot? = nil, ui: UIState,
        ctx: RenderContext
    ) {
        guard rect.height > 0 else { return }
        let t = ctx.theme
        let calm = calm ?? snapshot
        let held = Dictionary(calm.batches.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var lines: [Line] = snapshot.batches.map { b in
            let c = b.isDone ? b : (held[b.id] ?? b)
            let end = b.finished ?? calm.time
            return Line(
                id: "#\(b.id)", label: b.label, counts: b.counts, elapsed: b.submitted.seconds(to: end), eta: c.eta,
                rate: c.rate, finished: b.isDone, open: b.open, paused: snapshot.paused)
        }
        let showTotal = snapshot.batchCount > 1
        let barRows = max(0, min(rows, rect.height - 1))
        if lines.count > barRows - (showTotal ? 1 : 0) {
            lines = Array(lines.suffix(max(0, barRows - (showTotal ? 1 : 0))))
        }
        let totals = snapshot.totals
        if showTotal || lines.isEmpty && totals.total > 0 {
            // The clock stops when everything is done.
            var timed = snapshot
            timed.time = calm.time
            timed.rate = calm.rate
            let w = work(timed)
            lines.append(
                Line(
                    id: "", label: "all", counts: totals, elapsed: w.elapsed, eta: w.eta, rate: w.rate,
                    finished: w.finished, open: snapshot.batches.contains(where: \.open), paused: snapshot.paused))
        }
        var left: [Span] = []
        if snapshot.batchCount > 0 {
            let shown = lines.count - (showTotal ? 1 : 0)
            left.append(
                Span(
                    shown > 0 && shown < snapshot.batchCount
                        ? "latest \(shown) of \(snapshot.batchCount) batches"
                        : "\(snapshot.batchCount) batch" + (snapshot.batchCount == 1 ? "" : "es"), t.ruleInfo))
        }
        let legend = [Span("\(ctx.glyphs.barFull) ok", t.barOK), Span("\(ctx.colorsOrMono) failed", t.barFailed)]
        canvas.rule(
            row: rect.row, col: rect.col, width: rect.width, title: "Progress", focused: false, left: left,
            right: legend, ctx: ctx)
        if snapshot.batchCount == 0 {
            if rect.height > 1 {
                canvas.put(
                    "no batches yet: press s and type e.g.  echo {} ::: 1..9", row: rect.row + 1, col: rect.col + 2,
                    style: t.dim, width: rect.width - 2)
            }
            return
        }
        let maxTotal = lines.map(\.counts.total).max() ?? 0
        let countWidth = 2 * displayWidth(Format.count(maxTotal)) + 1
        let cols = columns(width: rect.width - 1, x: rect.col + 1, countWidth: countWidth)
        for (n, line) in lines.enumerated() {
            let r = rect.row + 1 + n
            guard r < rect.bottom else { break }
            drawLine(line, into: &canvas, row: r, cols: cols, isTotal: line.label == "all" && line.id.isEmpty, ctx: ctx)
        }
    }

    static func drawLine(
        _ line: Line, into canvas: inout Canvas, row: Int, cols: [Placed<Col>], isTotal: Bool, ctx: RenderContext
    ) {
        let t = ctx.theme
        let c = line.counts
        for p in cols {
            let (text, style): (String, Style)
            switch p.column.id {
            case .id: (text, style) = (line.id, t.value)
            case .label: (text, style) = (line.label, isTotal ? t.value : .plain)
            case .bar:
                drawBar(
                    ok: c.ok, failed: c.failed, total: c.total, into: &canvas, row: row, col: p.x, width: p.width,
                    ctx: ctx)
                continue
            case .count: (text, style) = ("\(Format.count(c.done))/" + (line.open ? "?" : Format.count(c.total)), t.value)
            case .percent: (text, style) = (line.open ? "?" : Format.percent(c.done, of: c.total), line.finished ? t.good : t.value)
            case .failed:
                (text, style) = c.failed > 0 ? ("\(ctx.glyphs.cross) \(Format.count(c.failed))", t.bad) : ("", .plain)
            case .elapsed: (text, style) = (Format.duration(line.elapsed), t.dim)
            case .eta:
                if line.finished {
                    (text, style) = ("done", c.failed > 0 ? t.bad : t.good)
                } else if line.paused {
                    (text, style) = ("paused", t.warn)
                } else {
                    (text, style) = (Format.eta(line.eta), .plain)
                }
            case .rate: (text, style) = (Format.rate(line.rate), t.dim)
            }
            canvas.cell(
                text, row: row, col: p.x, width: p.width, right: p.column.right, style: style, unicode: ctx.unicode)
        }
    }

    /// A bar with its end marks: green successes, red failures, the rest empty.
    static func drawBar(
        ok: Int, failed: Int, total: Int, into canvas: inout Canvas, row: Int, col: Int, width: Int, ctx: RenderContext
    ) {
        guard width >= 3 else { return }
        let t = ctx.theme
        canvas.put(ctx.glyphs.barLeft, row: row, col: col, style: t.barFrame)
        canvas.put(ctx.glyphs.barRight, row: row, col: col + width - 1, style: t.barFrame)
        let bar = Bar(
            ok: ok, failed: failed, total: total, width: width - 2, unicode: ctx.unicode, colors: ctx.theme.colors)
        for (i, cell) in bar.cells.enumerated() {
            let style: Style
            switch cell.part {
            case .ok: style = t.barOK
            case .failed: style = t.barFailed
            case .empty: style = t.barEmpty
            }
            canvas.put(String(cell.glyph), row: row, col: col + 1 + i, style: style)
        }
    }
}

extension RenderContext {
    /// The failed-cell glyph for the legend.
    var colorsOrMono: Character { theme.colors ? glyphs.barFull : glyphs.barFailedMono }
}
