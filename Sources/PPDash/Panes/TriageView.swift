// The failure triage view (`!`): failed tasks grouped by status, exit status or signal and first error line, with
// counts and the engines they failed on. Enter lists a group's tasks (the table, filtered); R retries the group.
import PPKit
import PPSource
import PPTerm

enum TriageView {
    /// Lines per group: the heading (count, reason, engines) and the first error line.
    static let linesPerGroup = 2

    /// Group rows that fit in `rect` (the box takes two rows, the column header one).
    static func groupRows(height: Int) -> Int { max(1, (height - 3) / linesPerGroup) }

    static func draw(into canvas: inout Canvas, rect: Rect, ui: UIState, ctx: RenderContext) {
        let t = ctx.theme
        let groups = ui.triage ?? []
        let failed = groups.reduce(0) { $0 + $1.count }
        let rows = groupRows(height: rect.height)
        let first = min(ui.triageOffset, max(0, groups.count - rows))
        let last = min(groups.count, first + rows)
        let note =
            groups.isEmpty
            ? "Esc closes"
            : "\(groups.count) group\(groups.count == 1 ? "" : "s") of \(Format.count(failed)) failed task\(failed == 1 ? "" : "s")"
                + (groups.count > rows ? ", \(first + 1)-\(last) shown" : "")
        canvas.box(rect, title: "Failure triage", note: note, ctx: ctx)
        let x = rect.col + 2
        let width = max(0, rect.width - 4)
        guard rect.height > 3 else { return }
        guard let all = ui.triage else {
            canvas.put(
                "this view cannot list failed tasks (only the view of the ppdash that runs them can)", row: rect.row + 1,
                col: x, style: t.dim, width: width)
            return
        }
        if all.isEmpty {
            canvas.put("no failed tasks", row: rect.row + 1, col: x, style: t.dim, width: width)
            return
        }
        let countWidth = max(5, all.map { Format.count($0.count).count }.max() ?? 5)
        let reasonWidth = min(18, max(6, all.map { $0.reason.count }.max() ?? 6))
        let header =
            Format.padLeft("Tasks", countWidth) + "  " + Format.padRight("Failure", reasonWidth) + "  Engines (failed on)"
        canvas.fill(row: rect.row + 1, col: rect.col + 1, width: rect.width - 2, style: t.columnHeader)
        canvas.put(header, row: rect.row + 1, col: x, style: t.columnHeader, width: width)
        for (n, g) in all[first..<last].enumerated() {
            let r = rect.row + 2 + n * linesPerGroup
            guard r + 1 < rect.bottom else { break }
            let style = t.status(g.status)
            var used = canvas.put(Format.padLeft(Format.count(g.count), countWidth) + "  ", row: r, col: x, style: t.value, width: width)
            used += canvas.put(
                Format.padRight(g.reason, reasonWidth) + "  ", row: r, col: x + used, style: style.with(bold: true),
                width: width - used)
            canvas.put(g.enginesText, row: r, col: x + used, style: t.dim, width: max(0, width - used))
            let line = g.firstLine.isEmpty ? "(no error output)" : g.firstLine
            canvas.put(
                String(repeating: " ", count: countWidth + 2) + line, row: r + 1, col: x,
                style: g.firstLine.isEmpty ? t.dim : .plain, width: width)
            if first + n == ui.triageSelected {
                canvas.restyle(row: r, col: rect.col + 1, width: rect.width - 2) { $0.reverse = true }
                canvas.restyle(row: r + 1, col: rect.col + 1, width: rect.width - 2) { $0.reverse = true }
            }
        }
        let hint = "Enter lists the group's tasks   R retries them (other engines first)   Esc closes"
        if rect.height > 4 { canvas.put(hint, row: rect.bottom - 2, col: x, style: t.dim, width: width) }
    }
}

extension UIState {
    /// The triage's keys: open it (and ask for the groups), list a group, retry a group.
    mutating func triageAction(_ action: Action) -> [Effect] {
        switch action {
        case .openTriage:
            showHelp = false
            showTriage = true
            triageSelected = 0
            triageOffset = 0
            return [.fetchTriage]
        case .triageList:
            guard let g = selectedGroup() else { return [] }
            showTriage = false
            mode = .main
            focus = .table
            follow = false
            filter = Triage.filter(for: g)
            selected = 0
            offset = 0
            selectedTask = nil
            message = StatusMessage("showing the \(g.count) task\(g.count == 1 ? "" : "s") that failed with \(g.reason) (Esc shows all)")
        case .triageRetry:
            guard let g = selectedGroup() else { return [] }
            return [.retryTasks(g.tasks)]
        default:
            break
        }
        return []
    }

    /// The selected group, if any (else a message says why).
    private mutating func selectedGroup() -> FailureGroup? {
        guard let groups = triage, groups.indices.contains(triageSelected) else {
            message = StatusMessage("no failure group selected", isError: true)
            return nil
        }
        return groups[triageSelected]
    }

    mutating func moveTriage(to index: Int) {
        let count = triage?.count ?? 0
        triageSelected = max(0, min(max(0, count - 1), index))
        let rows = max(1, viewport.triageRows)
        if triageSelected < triageOffset { triageOffset = triageSelected }
        if triageSelected >= triageOffset + rows { triageOffset = triageSelected - rows + 1 }
        triageOffset = max(0, min(triageOffset, max(0, count - rows)))
    }

    /// New groups from the source: the selection stays on the same failure where it still exists.
    public mutating func adoptTriage(_ groups: [FailureGroup]?) {
        let was = triage.flatMap { $0.indices.contains(triageSelected) ? $0[triageSelected] : nil }
        triage = groups
        if let was, let i = groups?.firstIndex(where: {
            $0.status == was.status && $0.exitStatus == was.exitStatus && $0.signal == was.signal
                && $0.firstLine == was.firstLine
        }) {
            triageSelected = i
        }
        moveTriage(to: triageSelected)
    }
}
