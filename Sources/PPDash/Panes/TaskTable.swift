// The task table: one window of the sorted, filtered tasks, coloured by status, with the selected row reversed.
import PPKit
import PPSource
import PPTerm

enum TaskTable {
    /// Spelled-out headings from this width on; shorter ones below.
    static let fullHeadersColumns = 100
    /// Milliseconds in the time columns from this width on.
    static let millisColumns = 160

    /// The columns for a table `width` wide; `sort` gets its arrow.
    static func columns(
        width: Int, x: Int, sort: SortKey, ascending: Bool, rows: [TaskRow], glyphs: Glyphs,
        shown: [SortKey] = SortKey.allCases
    ) -> [Placed<SortKey>] {
        let full = width + 1 >= fullHeadersColumns  // the pane's width, less the left margin
        let timeWidth = width + 1 >= millisColumns ? 12 : 8
        func digits(_ n: Int) -> Int { String(n).count }
        let maxID = rows.map(\.id.rawValue).max() ?? 0
        let maxBatch = rows.map(\.batch).max() ?? 0
        let maxEngine = rows.compactMap(\.engine).max() ?? 0
        let maxRetries = rows.map(\.retries).max() ?? 0
        func col(
            _ key: SortKey, _ long: String, _ short: String, _ w: Int, right: Bool, priority: Int, flex: Bool = false
        ) -> Column<SortKey> {
            var header = full ? long : short
            if key == sort { header += ascending ? glyphs.sortAscending : glyphs.sortDescending }
            return Column(
                id: key, header: header, width: max(w, displayWidth(header)), right: right, priority: priority,
                flex: flex)
        }
        let all = [
                col(.id, "ID", "ID", max(4, digits(maxID)), right: true, priority: 100),
                col(.batch, "Batch", "B", digits(maxBatch), right: true, priority: 60),
                col(.engine, "Engine", "Eng", digits(maxEngine), right: true, priority: 80),
                col(.status, "Status", "Stat", 7, right: false, priority: 99),
                col(.submitted, "Submitted", "Subm", timeWidth, right: false, priority: 40),
                col(.started, "Started", "Start", timeWidth, right: false, priority: 70),
                col(.completed, "Completed", "Compl", timeWidth, right: false, priority: 50),
                col(.duration, "Duration", "Dur", 6, right: true, priority: 90),
                col(.retries, "Retries", "Rt", digits(maxRetries), right: true, priority: 30),
                col(.text, "Command", "Command", 10, right: false, priority: 95, flex: true),
            ]
        // The chosen columns in the chosen order (the config file, the column chooser); all of them if none.
        let picked = shown.compactMap { k in all.first { $0.id == k } }
        return fitColumns(picked.isEmpty ? all : picked, width: width, at: x)
    }

    /// "rows 41-60 of 100 (filtered from 250)".
    static func rowsText(_ window: TableWindow, shown: Int) -> String {
        let first = window.offset + 1
        let last = window.offset + shown
        let range = shown == 0 ? "rows 0" : "rows \(first)-\(last)"
        let base = "\(range) of \(window.matching)"
        return window.matching == window.total ? base : base + " (filtered from \(window.total))"
    }

    static func draw(
        into canvas: inout Canvas, rect: Rect, rows: Int, snapshot: Snapshot, ui: UIState, ctx: RenderContext
    ) {
        guard rect.height > 0 else { return }
        let t = ctx.theme
        let window = snapshot.table
        let shown = Array(window.rows.prefix(max(0, min(rows, rect.height - 2))))
        var left: [Span] = []
        let sortName = SortKey.label(ui.sort, full: true)
        left.append(
            Span(
                "sort \(sortName) " + (ui.ascending ? ctx.glyphs.sortAscending : ctx.glyphs.sortDescending), t.ruleInfo)
        )
        if !ui.filter.isEmpty { left.append(Span("filter \"\(ui.filter)\"", t.warn)) }
        if ui.follow { left.append(Span("follow", t.warn)) }
        canvas.rule(
            row: rect.row, col: rect.col, width: rect.width, title: "Tasks",
            focused: ui.focus == .table && ui.mode == .main,
            left: left, right: [Span(rowsText(window, shown: shown.count), t.ruleInfo)], ctx: ctx)
        guard rect.height > 1 else { return }

        let cols = columns(
            width: rect.width - 1, x: rect.col + 1, sort: ui.sort, ascending: ui.ascending, rows: shown,
            glyphs: ctx.glyphs, shown: ui.columns)
        let hr = rect.row + 1
        canvas.fill(row: hr, col: rect.col, width: rect.width, style: t.columnHeader)
        for p in cols {
            let s = p.column.id == ui.sort ? t.columnHeaderSorted : t.columnHeader
            canvas.cell(
                p.column.header, row: hr, col: p.x, width: p.width, right: p.column.right, style: s,
                unicode: ctx.unicode)
        }
        if shown.isEmpty {
            let text =
                window.total == 0
                ? "no tasks yet: press s to submit a batch"
                : "no task matches \"\(ui.filter)\" (Esc clears the filter)"
            canvas.put(text, row: hr + 1, col: rect.col + 2, style: t.dim, width: rect.width - 2)
            return
        }
        let millis = rect.width >= millisColumns
        let selectedID = ui.selectedRow(in: snapshot)?.id
        for (n, row) in shown.enumerated() {
            let r = hr + 1 + n
            let style = t.status(row.status)
            for p in cols {
                canvas.cell(
                    text(row, p.column.id, now: ctx.now, millis: millis), row: r, col: p.x, width: p.width,
                    right: p.column.right, style: style, unicode: ctx.unicode)
            }
            if row.id == selectedID, ui.mode == .main {
                let focused = ui.focus == .table
                canvas.restyle(row: r, col: rect.col, width: rect.width) { s in
                    if focused { s.reverse = true } else { s.underline = true }
                }
            }
        }
    }

    /// One cell's text.
    static func text(_ row: TaskRow, _ key: SortKey, now: Timestamp, millis: Bool) -> String {
        switch key {
        case .id: String(row.id.rawValue)
        case .batch: String(row.batch)
        case .engine: row.engine.map(String.init) ?? "-"
        case .status: row.status.description
        case .submitted: Format.time(row.submitted, millis: millis)
        case .started: Format.time(row.started, millis: millis)
        case .completed: Format.time(row.completed, millis: millis)
        case .duration:
            if let d = row.duration {
                Format.duration(d)
            } else if row.status == .running, let s = row.started {
                Format.duration(s.seconds(to: now))  // still running: time so far
            } else {
                "-"
            }
        case .retries: String(row.retries)
        case .text: row.text
        }
    }
}

extension SortKey {
    /// The column's name in messages and the rule.
    static func label(_ key: SortKey, full: Bool) -> String {
        switch key {
        case .id: "ID"
        case .batch: "Batch"
        case .engine: "Engine"
        case .status: "Status"
        case .submitted: "Submitted"
        case .started: "Started"
        case .completed: "Completed"
        case .duration: "Duration"
        case .retries: "Retries"
        case .text: "Command"
        }
    }
}
