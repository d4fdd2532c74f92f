// The top line: engines busy/total, tasks done/total, failures, elapsed time, rate, flags and the key hints.
import PPKit
import PPTerm

enum HeaderLine {
    /// Draws the header across row 0, shortening its fields until they fit.
    static func draw(into canvas: inout Canvas, rect: Rect, snapshot: Snapshot, ui: UIState, ctx: RenderContext) {
        let t = ctx.theme
        canvas.fill(row: rect.row, col: rect.col, width: rect.width, style: t.header)
        let totals = snapshot.totals
        let elapsed = snapshot.startedAt.seconds(to: snapshot.time)
        let hints = "? help  q quit "

        // Each field in a long and a short form; the long forms are tried first, then ever shorter sets.
        let name = " ppdash" + (snapshot.source.isEmpty ? "" : " " + snapshot.source)
        let fields: [(long: String, short: String, style: Style)] = [
            (
                "engines \(snapshot.busyEngines)/\(snapshot.aliveEngines) busy",
                "eng \(snapshot.busyEngines)/\(snapshot.aliveEngines)", t.header
            ),
            (
                "tasks \(Format.count(totals.done))/\(Format.count(totals.total)) done",
                "\(Format.count(totals.done))/\(Format.count(totals.total))", t.header
            ),
            (
                "running \(Format.count(totals.running))", "run \(Format.count(totals.running))", t.header
            ),
            (
                "failed \(Format.count(totals.failed))", "\(ctx.glyphs.cross)\(Format.count(totals.failed))",
                totals.failed > 0 ? t.headerAlert : t.header
            ),
            ("elapsed " + Format.duration(elapsed), Format.duration(elapsed), t.header),
            (Format.rate(snapshot.rate), Format.rate(snapshot.rate), t.header),
        ]
        var flags: [Span] = []
        if snapshot.paused { flags.append(Span(" PAUSED ", t.pausedFlag)) }
        if ui.frozen { flags.append(Span(" FROZEN ", t.frozenFlag)) }
        if ui.follow { flags.append(Span(" FOLLOW ", t.frozenFlag)) }
        let flagsWidth = flags.reduce(0) { $0 + displayWidth($1.text) + 1 }

        // Choose: all long; then short forms from the least important; then the name alone; then drop fields.
        let gap = "  "
        func width(_ parts: [String]) -> Int { parts.reduce(0) { $0 + displayWidth($1) + gap.count } }
        var forms = fields.map(\.long)
        var showName = name
        var showHints = hints
        let budget = rect.width
        func total() -> Int {
            displayWidth(showName) + gap.count + width(forms) + flagsWidth + displayWidth(showHints)
        }
        var i = forms.count - 1
        while total() > budget, i >= 0 {
            forms[i] = fields[i].short
            i -= 1
        }
        if total() > budget { showName = " ppdash" }
        if total() > budget { showHints = "? help " }
        var keep = Array(repeating: true, count: forms.count)
        for drop in [2, 4, 5] where total() > budget {
            forms[drop] = ""
            keep[drop] = false
        }

        var x = rect.col
        x += canvas.put(showName, row: rect.row, col: x, style: t.header, width: rect.right - x)
        x += canvas.put(gap, row: rect.row, col: x, style: t.header, width: rect.right - x)
        for (j, f) in fields.enumerated() where keep[j] {
            x += canvas.put(forms[j], row: rect.row, col: x, style: f.style, width: rect.right - x)
            x += canvas.put(gap, row: rect.row, col: x, style: t.header, width: rect.right - x)
        }
        for flag in flags {
            x += canvas.put(flag.text, row: rect.row, col: x, style: flag.style, width: rect.right - x)
            x += 1
        }
        let hx = rect.right - displayWidth(showHints)
        if hx >= x { canvas.put(showHints, row: rect.row, col: hx, style: t.header) }
    }
}
