// The help overlay: every binding of the key map, grouped by where it applies.
import PPKit
import PPSource
import PPTerm

enum HelpView {
    /// The help's lines, from the key map.
    static func lines(width: Int, ctx: RenderContext, readOnly: Bool = false) -> [DetailView.Line] {
        let t = ctx.theme
        let entries = KeyMap.helpLines(readOnly: readOnly)
        let keyWidth = min(24, (entries.filter { !$0.heading }.map { displayWidth($0.keys) }.max() ?? 8) + 2)
        var out: [DetailView.Line] = []
        for e in entries {
            if e.heading {
                out.append([Span(e.keys, t.section)])
            } else if e.keys.isEmpty {
                out.append([])
            } else {
                let parts = DetailView.wrap(e.text, width: max(10, width - keyWidth - 2))
                for (i, p) in parts.enumerated() {
                    let k =
                        i == 0
                        ? Format.padRight("  " + e.keys, keyWidth + 2) : String(repeating: " ", count: keyWidth + 2)
                    out.append([Span(k, t.key), Span(p, .plain)])
                }
            }
        }
        out.append([])
        for p in wordWrap("The / filter (the same in local, attached, journal and ipp views)", width: max(10, width)) {
            out.append([Span(p, t.section)])
        }
        for (example, meaning) in TaskFilter.syntax {
            for (i, p) in DetailView.wrap(meaning, width: max(10, width - keyWidth - 2)).enumerated() {
                let k = Format.padRight(i == 0 ? "  " + example : "", keyWidth + 2)
                out.append([Span(k, t.key), Span(p, .plain)])
            }
        }
        out.append([])
        // Notes are wrapped to the overlay like the rest, so none is cut at the frame.
        for note in [
            "Esc closes the topmost thing, one press each: a prompt, then the help, then the detail view, then the "
                + "filter (and any message).",
            "Colours: green ok, yellow running, red error/timeout, magenta aborted, dim pending.",
            "Quitting leaves with exit status 0; the batch's fate is up to the command that started ppdash.",
        ] {
            for p in wordWrap(note, width: max(10, width)) { out.append([Span(p, t.dim)]) }
        }
        return out
    }

    /// `text` cut at spaces into lines of at most `width` columns (a word longer than that is cut).
    static func wordWrap(_ text: String, width: Int) -> [String] {
        var out: [String] = []
        var cur = ""
        for word in text.split(separator: " ") {
            let w = String(word)
            if cur.isEmpty {
                cur = w
            } else if displayWidth(cur) + 1 + displayWidth(w) <= width {
                cur += " " + w
            } else {
                out.append(cur)
                cur = w
            }
            while displayWidth(cur) > width {
                let parts = DetailView.wrap(cur, width: width)
                out.append(contentsOf: parts.dropLast())
                cur = parts.last ?? ""
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// The overlay's frame: centred, at most 96 columns wide.
    static func frame(in area: Rect) -> Rect {
        let width = min(area.width, 96)
        return Rect(row: area.row, col: area.col + (area.width - width) / 2, width: width, height: area.height)
    }

    static func draw(into canvas: inout Canvas, rect: Rect, ui: UIState, lines: [DetailView.Line], ctx: RenderContext) {
        let textRows = max(0, rect.height - 2)
        let scroll = min(ui.helpScroll, max(0, lines.count - textRows))
        let note =
            lines.count > textRows
            ? "lines \(scroll + 1)-\(min(lines.count, scroll + textRows)) of \(lines.count)" : "Esc closes"
        canvas.box(rect, title: "ppdash keys", note: note, ctx: ctx)
        for (n, line) in lines.dropFirst(scroll).prefix(textRows).enumerated() {
            canvas.put(line, row: rect.row + 1 + n, col: rect.col + 2, limit: rect.right - 2)
        }
    }
}
