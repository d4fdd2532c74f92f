// The column chooser (`C`): which task-table columns show and in what order; `w` saves them to the config file.
import PPKit
import PPSource
import PPTerm

enum ColumnChooser {
    /// Every column in chooser order: the shown ones in their order, then the hidden ones.
    static func entries(_ shown: [SortKey]) -> [(key: SortKey, shown: Bool)] {
        shown.map { ($0, true) } + SortKey.allCases.filter { !shown.contains($0) }.map { ($0, false) }
    }

    /// The frame: centred, 44 columns wide at most, tall enough for every column and the hints.
    static func frame(in area: Rect) -> Rect {
        let width = min(area.width, 60)
        let height = min(area.height, SortKey.allCases.count + 6)
        return Rect(row: area.row, col: area.col + (area.width - width) / 2, width: width, height: height)
    }

    static func draw(into canvas: inout Canvas, rect: Rect, ui: UIState, ctx: RenderContext) {
        let t = ctx.theme
        canvas.fill(row: rect.row, col: rect.col, width: rect.width, height: rect.height)
        canvas.box(rect, title: "Task table columns", note: "Esc closes", ctx: ctx)
        let x = rect.col + 2
        let width = max(0, rect.width - 4)
        let list = entries(ui.columns)
        for (n, e) in list.enumerated() {
            let r = rect.row + 1 + n
            guard r < rect.bottom - 1 else { break }
            let mark = e.shown ? "[x]" : "[ ]"
            let name = SortKey.label(e.key, full: true) + " (" + DashboardConfig.columnName(e.key) + ")"
            canvas.put(mark + " " + name, row: r, col: x, style: e.shown ? .plain : t.dim, width: width)
            if n == ui.columnCursor { canvas.restyle(row: r, col: rect.col + 1, width: rect.width - 2) { $0.reverse = true } }
        }
        let hints = ["Space shows/hides, K/J move, w saves, D defaults", "shown columns left to right, top to bottom"]
        for (i, h) in hints.enumerated() {
            let r = rect.bottom - 1 - hints.count + i
            if r > rect.row + list.count { canvas.put(h, row: r, col: x, style: t.dim, width: width) }
        }
    }
}

extension UIState {
    /// The chooser's keys.
    mutating func columnAction(_ action: Action) -> [Effect] {
        var list = ColumnChooser.entries(columns)
        columnCursor = max(0, min(list.count - 1, columnCursor))
        switch action {
        case .openColumns:
            showHelp = false
            showColumns = true
            columnCursor = 0
        case .columnToggle:
            list[columnCursor].shown.toggle()
            if !list.contains(where: \.shown) {
                list[columnCursor].shown = true
                message = StatusMessage("at least one column stays shown", isError: true)
            }
            columns = list.filter(\.shown).map(\.key)
            // The cursor stays on the column it toggled (which moved to the end of the shown ones or after them).
            columnCursor = ColumnChooser.entries(columns).firstIndex { $0.key == list[columnCursor].key } ?? 0
        case .columnLeft, .columnRight:
            let key = list[columnCursor].key
            guard let i = columns.firstIndex(of: key) else {
                message = StatusMessage("show the column first (Space) to move it", isError: true)
                break
            }
            let j = action == .columnLeft ? i - 1 : i + 1
            guard columns.indices.contains(j) else { break }
            columns.swapAt(i, j)
            columnCursor = j
        case .columnSave:
            return [.saveColumns(columns)]
        case .columnReset:
            columns = SortKey.allCases
            columnCursor = 0
        default:
            break
        }
        return []
    }
}
