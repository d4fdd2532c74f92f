// The top line: engines busy/total, tasks done/total, failures, elapsed time, rate, flags and the key hints.
import PPKit
import PPSource
import PPTerm

enum HeaderLine {
    /// The header's fields in one of its forms; `fit` shortens them step by step.
    struct Fields {
        var name: String
        var engines: String
        var tasks: String
        var running: String?
        var failed: String
        var elapsed: String?
        var rate: String?
        var hints: String
    }

    /// The longest form of the fields that fits `width` (flags take `reserved` columns).
    static func fit(_ snapshot: Snapshot, width: Int, reserved: Int, glyphs: Glyphs, attached: Bool = false) -> Fields {
        let totals = snapshot.totals
        let busy = snapshot.busyEngines
        let queuedJobs = snapshot.engineCounts.queued
        // Batch jobs still in the queue are counted apart: they run nothing yet.
        let alive = snapshot.aliveEngines - queuedJobs
        let queuedNote = queuedJobs > 0 ? ", \(queuedJobs) queued" : ""
        // The current work's clock and pace, as the progress widget's total line has them (one number, one source).
        let work = ProgressPane.work(snapshot)
        let elapsed = Format.duration(work.elapsed)
        let gone = alive + queuedJobs < snapshot.engineCount ? " of \(snapshot.engineCount)" : ""
        let done = Format.count(totals.done)
        let all = Format.count(totals.total)
        var f = Fields(
            name: " ppdash" + (snapshot.source.isEmpty ? "" : " " + snapshot.source),
            // Engines no longer alive (dead, removed, a journal's finished run) are counted too, as the pane has them.
            engines: "engines \(busy)/\(alive) busy" + gone + queuedNote,
            tasks: "tasks \(done)/\(all) done (\(Format.percent(totals.done, of: totals.total)))",
            running: "running \(Format.count(totals.running))  pending \(Format.count(totals.pending))",
            failed: "failed \(Format.count(totals.failed))", elapsed: "elapsed " + elapsed,
            rate: Format.rate(work.rate),
            hints: attached ? "? help  q detach" : "? help  q quit")
        let steps: [(inout Fields) -> Void] = [
            { $0.running = "running \(Format.count(totals.running))" },
            { $0.running = nil },
            { $0.tasks = "tasks \(done)/\(all)" },
            { $0.name = " ppdash" },
            { $0.elapsed = elapsed },
            { $0.engines = "eng \(busy)/\(alive)" + gone + (queuedJobs > 0 ? "+\(queuedJobs)q" : "") },
            { $0.hints = "? help" },
            { $0.failed = "\(glyphs.cross)\(Format.count(totals.failed))" },
            { $0.tasks = "\(done)/\(all)" },
            { $0.rate = nil },
            { $0.elapsed = nil },
            { $0.name = "" },
        ]
        for step in steps where columns(of: f) + reserved > width { step(&f) }
        return f
    }

    static let gap = 2

    /// Columns the fields take with their gaps.
    static func columns(of f: Fields) -> Int {
        let parts = [f.name, f.engines, f.tasks, f.running, f.failed, f.elapsed, f.rate].compactMap { $0 }.filter {
            !$0.isEmpty
        }
        return parts.reduce(0) { $0 + displayWidth($1) + gap } + displayWidth(f.hints)
    }

    /// Draws the header across `rect`.
    static func draw(into canvas: inout Canvas, rect: Rect, snapshot: Snapshot, ui: UIState, ctx: RenderContext) {
        let t = ctx.theme
        canvas.fill(row: rect.row, col: rect.col, width: rect.width, style: t.header)
        var flags: [Span] = []
        if snapshot.paused { flags.append(Span(" PAUSED ", t.pausedFlag)) }
        if ui.frozen { flags.append(Span(" FROZEN ", t.frozenFlag)) }
        let reserved = flags.reduce(0) { $0 + displayWidth($1.text) + 1 }
        let f = fit(snapshot, width: rect.width, reserved: reserved, glyphs: ctx.glyphs, attached: ui.attached)
        let failedStyle = snapshot.totals.failed > 0 ? t.headerAlert : t.header
        let spans: [Span] = [
            Span(f.name, t.header), Span(f.engines, t.header), Span(f.tasks, t.header), Span(f.running ?? "", t.header),
            Span(f.failed, failedStyle), Span(f.elapsed ?? "", t.header), Span(f.rate ?? "", t.headerDim),
        ].filter { !$0.text.isEmpty }
        var x = rect.col
        let end = rect.right - displayWidth(f.hints)
        for s in spans {
            x += canvas.put(s.text, row: rect.row, col: x, style: s.style, width: end - x)
            x += HeaderLine.gap
        }
        for flag in flags {
            x += canvas.put(flag.text, row: rect.row, col: x, style: flag.style, width: end - x)
            x += 1
        }
        if end >= x - 1 { canvas.put(f.hints, row: rect.row, col: end, style: t.header) }
    }
}
