// Drawing helpers the panes share: styled spans, titled rules, framed boxes and column fitting.
import PPKit
import PPTerm

/// What every pane needs to draw one frame.
struct RenderContext {
    let theme: Theme
    let glyphs: Glyphs
    /// The snapshot's time: running durations and ages are measured to it.
    let now: Timestamp
    var unicode: Bool { glyphs.unicode }
}

/// A run of text in one style.
struct Span: Sendable {
    var text: String
    var style: Style
    init(_ text: String, _ style: Style) {
        self.text = text
        self.style = style
    }
}

extension Canvas {
    /// Writes spans one after another from `col`, clipped at `limit`; returns the column after the last one.
    @discardableResult
    mutating func put(_ spans: [Span], row: Int, col: Int, limit: Int) -> Int {
        var x = col
        for span in spans where x < limit {
            x += put(span.text, row: row, col: x, style: span.style, width: limit - x)
        }
        return x
    }

    /// A horizontal rule across `width` with a title (and info) on the left and info on the right: `── Title ── info ─────── right ─`.
    mutating func rule(
        row: Int, col: Int, width: Int, title: String, focused: Bool, left: [Span] = [], right: [Span] = [],
        ctx: RenderContext
    ) {
        guard width > 0 else { return }
        let h = String(ctx.glyphs.hline)
        fill(row: row, col: col, width: width, char: ctx.glyphs.hline, style: ctx.theme.rule)
        let limit = col + width
        var x = col + min(1, width)
        let mark = focused ? ctx.glyphs.focusMark + " " : ""
        x += put(
            " " + mark + title + " ", row: row, col: x, style: focused ? ctx.theme.titleFocused : ctx.theme.title,
            width: limit - x)
        for span in left where x < limit - 1 {
            x += put(h, row: row, col: x, style: ctx.theme.rule, width: limit - x)
            x += put(" " + span.text + " ", row: row, col: x, style: span.style, width: limit - 1 - x)
        }
        let rightWidth = right.reduce(0) { $0 + displayWidth($1.text) + 2 }
        let rx = limit - 1 - rightWidth
        if !right.isEmpty, rx > x + 1 {
            var cx = rx
            for span in right {
                cx += put(" " + span.text + " ", row: row, col: cx, style: span.style, width: limit - cx)
            }
        }
    }

    /// A frame around `rect` with a title in the top edge and a note in the bottom edge.
    mutating func box(_ rect: Rect, title: String, note: String = "", ctx: RenderContext) {
        guard rect.width >= 2, rect.height >= 2 else { return }
        let g = ctx.glyphs
        let s = ctx.theme.overlayBorder
        fill(row: rect.row, col: rect.col, width: rect.width, height: rect.height, char: " ")
        fill(row: rect.row, col: rect.col + 1, width: rect.width - 2, char: g.hline, style: s)
        fill(row: rect.bottom - 1, col: rect.col + 1, width: rect.width - 2, char: g.hline, style: s)
        fill(row: rect.row + 1, col: rect.col, width: 1, height: rect.height - 2, char: g.vline, style: s)
        fill(row: rect.row + 1, col: rect.right - 1, width: 1, height: rect.height - 2, char: g.vline, style: s)
        put(String(g.topLeft), row: rect.row, col: rect.col, style: s)
        put(String(g.topRight), row: rect.row, col: rect.right - 1, style: s)
        put(String(g.bottomLeft), row: rect.bottom - 1, col: rect.col, style: s)
        put(String(g.bottomRight), row: rect.bottom - 1, col: rect.right - 1, style: s)
        if !title.isEmpty {
            put(
                " " + truncate(title, to: rect.width - 6, unicode: ctx.unicode) + " ", row: rect.row, col: rect.col + 2,
                style: ctx.theme.titleFocused, width: rect.width - 4)
        }
        if !note.isEmpty, rect.width > displayWidth(note) + 6 {
            put(
                " " + note + " ", row: rect.bottom - 1, col: rect.right - 4 - displayWidth(note), style: ctx.theme.title
            )
        }
    }

    /// Writes `text` into a cell of `width` columns, cut with an ellipsis when too long, aligned left or right.
    mutating func cell(_ text: String, row: Int, col: Int, width: Int, right: Bool = false, style: Style, unicode: Bool)
    {
        guard width > 0 else { return }
        let t = truncate(text, to: width, unicode: unicode)
        let pad = right ? width - displayWidth(t) : 0
        put(t, row: row, col: col + max(0, pad), style: style, width: width - max(0, pad))
    }
}

/// A table column the fitter places: fixed or flexible width, dropped by priority when space is short.
struct Column<ID: Hashable> {
    var id: ID
    var header: String
    var width: Int
    var right = false
    /// Higher stays longer when the width is short.
    var priority = 0
    /// Flexible columns share the spare width (from `width` up to `maxWidth`).
    var flex = false
    var maxWidth = Int.max
    /// A flexible column's share of the spare width, relative to the others.
    var weight = 1
}

/// A column given its place.
struct Placed<ID: Hashable> {
    var column: Column<ID>
    var x: Int
    var width: Int
}

/// Places columns in `width` cells with one space between them, dropping the lowest priority ones until the rest fit; spare space goes to the flexible columns in order.
func fitColumns<ID: Hashable>(_ columns: [Column<ID>], width: Int, at x0: Int = 0) -> [Placed<ID>] {
    var chosen = columns
    func need(_ cs: [Column<ID>]) -> Int { cs.reduce(0) { $0 + $1.width } + max(0, cs.count - 1) }
    while chosen.count > 1, need(chosen) > width {
        guard let drop = chosen.indices.min(by: { chosen[$0].priority < chosen[$1].priority }) else { break }
        chosen.remove(at: drop)
    }
    var spare = max(0, width - need(chosen))
    var widths = chosen.map(\.width)
    // Share the spare by weight; what a capped column cannot take goes round again to the others.
    while spare > 0 {
        let open = chosen.indices.filter { chosen[$0].flex && widths[$0] < chosen[$0].maxWidth }
        let weights = open.reduce(0) { $0 + max(1, chosen[$1].weight) }
        guard weights > 0 else { break }
        var given = 0
        for (n, i) in open.enumerated() {
            let share = n == open.count - 1 ? spare - given : spare * max(1, chosen[i].weight) / weights
            let add = max(0, min(share, chosen[i].maxWidth - widths[i], spare - given))
            widths[i] += add
            given += add
        }
        if given == 0 { break }
        spare -= given
    }
    var out: [Placed<ID>] = []
    var x = x0
    for (i, c) in chosen.enumerated() {
        let w = min(widths[i], max(0, x0 + width - x))
        out.append(Placed(column: c, x: x, width: w))
        x += widths[i] + 1
    }
    return out
}
