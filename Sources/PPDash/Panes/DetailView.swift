// The detail view: one task's whole metadata, then its stdout, stderr and error, wrapped and scrollable.
import PPKit
import PPSystem
import PPTerm

enum DetailView {
    /// One display line: spans that together fit the width.
    typealias Line = [Span]

    /// Every line of the detail for `meta`, wrapped to `width` (the caller scrolls).
    static func lines(
        _ meta: TaskMetadata?, id: TaskID?, width: Int, now: Timestamp, ctx: RenderContext, meters: EngineMeters? = nil
    ) -> [Line] {
        let t = ctx.theme
        guard let m = meta else {
            return [[Span(id.map { "loading task \($0)…" } ?? "no task", t.dim)]]
        }
        var out: [Line] = []
        let labelWidth = 11
        func field(_ label: String, _ value: String, _ style: Style = .plain) {
            let pad = Format.padRight(label, labelWidth)
            let wrapped = wrap(value, width: max(1, width - labelWidth))
            for (i, part) in wrapped.enumerated() {
                out.append([Span(i == 0 ? pad : String(repeating: " ", count: labelWidth), t.label), Span(part, style)])
            }
        }
        func stamp(_ ts: Timestamp?, _ extra: String = "") -> String {
            guard let ts else { return "-" }
            return ts.iso8601 + "  (" + ts.timeOfDay + " local)" + extra
        }
        var status = m.status.description
        if let code = m.exitStatus { status += "   exit status \(code)" }
        if let sig = m.signal { status += "   signal \(sig)" }
        field("status", status, t.status(m.status).with(bold: true))
        field("msg_id", m.msgId)
        field("batch", "\(m.batch), task #\(m.seq) of it")
        field("engine", m.engine.map { "\($0)" + (m.engineHost.map { " on \($0)" } ?? "") } ?? "- (not started)")
        field("command", m.text)
        if !m.args.isEmpty { field("args", m.args.joined(separator: "  ")) }
        field("submitted", stamp(m.submitted))
        let waited = m.started.map { "  waited " + Format.duration(m.submitted.seconds(to: $0)) } ?? ""
        field("started", stamp(m.started, waited))
        field("completed", stamp(m.completed))
        field("received", stamp(m.received))
        if let d = m.duration {
            field("duration", Format.duration(d))
        } else if m.status == .running, let s = m.started {
            field("duration", Format.duration(s.seconds(to: now)) + " so far", t.warn)
        }
        if let u = m.usage {
            field("resources", usageText(u))
        } else if m.status == .running, let meters, let text = metersText(meters) {
            field("resources", text + " now", t.warn)
        }
        field("retries", String(m.retries))
        if let d = m.after, !d.isEmpty { field("after", describe(d)) }
        if let d = m.follow, !d.isEmpty { field("follow", describe(d)) }

        func section(_ name: String, _ output: CapturedOutput) {
            out.append([])
            let lines =
                output.text.isEmpty
                ? [] : clean(output.text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let count = lines.last == "" ? lines.count - 1 : lines.count
            let running = m.status == .running
            var heading: String
            if output.released {
                heading = "\(name): \(Format.bytes(output.totalBytes)), printed and no longer kept in memory ("
                    + (output.spool.map { "all of it in \($0)" } ?? "in the journal's completed line") + ")"
                out.append([Span(String(ctx.glyphs.hline) + String(ctx.glyphs.hline) + " " + heading + " ", t.section)])
                return
            }
            if running {
                heading = "\(name) so far: "
                    + (count == 0 ? "nothing yet (a worker process's output shows when its task ends)"
                        : "\(count) line" + (count == 1 ? "" : "s") + ", \(Format.bytes(output.totalBytes))")
            } else {
                heading = "\(name): " + (count == 0 ? "empty" : "\(count) line" + (count == 1 ? "" : "s"))
            }
            if output.droppedBytes > 0 {
                heading += ", \(Format.bytes(output.droppedBytes)) not shown from the middle"
                if let spool = output.spool { heading += " (all of it in \(spool))" }
            }
            out.append([Span(String(ctx.glyphs.hline) + String(ctx.glyphs.hline) + " " + heading + " ", t.section)])
            for line in lines.prefix(count) {
                for part in wrap(line, width: width) { out.append([Span(part, .plain)]) }
            }
        }
        section("stdout", m.stdout)
        section("stderr", m.stderr)
        if let e = m.error, !e.isEmpty {
            out.append([])
            out.append([Span(String(ctx.glyphs.hline) + String(ctx.glyphs.hline) + " error ", t.bad)])
            for line in clean(e).split(separator: "\n", omittingEmptySubsequences: false) {
                for part in wrap(String(line), width: width) { out.append([Span(part, t.style(.red))]) }
            }
        }
        return out
    }

    /// A finished task's `/usr/bin/time -v` figures: "cpu 1.25 s user, 0.50 s system; peak memory 3.0 MiB".
    static func usageText(_ u: ResourceUsage) -> String {
        "cpu " + Format.seconds(u.userSeconds) + " user, " + Format.seconds(u.systemSeconds) + " system; peak memory "
            + (u.maxRSSBytes.map { Format.bytes(Int(clamping: $0)) } ?? "below ppdash's own (not measurable)")
    }

    /// A running task's process tree now: "cpu 98%, memory 12.0 MiB" (nil when nothing is known yet).
    static func metersText(_ m: EngineMeters) -> String? {
        var parts: [String] = []
        if let c = m.taskCPUPercent { parts.append("cpu " + Format.percent(c)) }
        if let r = m.taskRSSBytes { parts.append("memory " + Format.bytes(Int(clamping: r))) }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    static func describe(_ d: Dependency) -> String {
        let ids = d.ids.map(\.description).joined(separator: ", ")
        let when = d.success && d.failure ? "finished" : d.failure ? "failed" : "succeeded"
        return "task" + (d.ids.count == 1 ? " " : "s ") + ids + " (" + (d.all ? "all" : "any") + " " + when + ")"
    }

    /// Output made fit for the screen: escape sequences removed, carriage-return overwrites resolved, tabs expanded.
    static func clean(_ text: String) -> String {
        var out = ""
        var line = ""
        var it = text.unicodeScalars.makeIterator()
        var column = 0
        while let s = it.next() {
            switch s {
            case "\u{1B}":
                // CSI: ESC [ ... final byte; OSC: ESC ] ... BEL or ESC \; others: one more byte.
                guard let n = it.next() else { break }
                if n == "[" {
                    while let c = it.next(), !(0x40...0x7E).contains(c.value) {}
                } else if n == "]" {
                    while let c = it.next(), c != "\u{07}", c != "\u{1B}" {}
                }
            case "\r":
                line = ""
                column = 0
            case "\n":
                out += line + "\n"
                line = ""
                column = 0
            case "\t":
                let n = 8 - column % 8
                line += String(repeating: " ", count: n)
                column += n
            default:
                line.unicodeScalars.append(s)
                column += 1
            }
        }
        return out + line
    }

    /// `text` cut into pieces of at most `width` columns (wide characters counted as two).
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [text] }
        if displayWidth(text) <= width { return [text] }
        var out: [String] = []
        var cur = ""
        var used = 0
        for ch in text {
            let w = displayWidth(String(ch))
            if used + w > width {
                out.append(cur)
                cur = ""
                used = 0
            }
            cur.append(ch)
            used += w
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    static func draw(into canvas: inout Canvas, rect: Rect, ui: UIState, lines: [Line], ctx: RenderContext) {
        let textRows = max(0, rect.height - 2)
        let maxScroll = max(0, lines.count - textRows)
        let scroll = min(ui.detailScroll, maxScroll)
        let first = lines.isEmpty ? 0 : scroll + 1
        let last = min(lines.count, scroll + textRows)
        var title = "Task \(ui.detailTask.map(\.description) ?? "?")"
        if let m = ui.detail { title += "  \(m.status)" + (m.status == .running ? ", output so far" : "") }
        // G sticks to the bottom: the output is followed as it grows, until the user scrolls up.
        let following = ui.detailScroll == Int.max && ui.detail?.status == .running
        canvas.box(
            rect, title: title, note: "lines \(first)-\(last) of \(lines.count)" + (following ? ", following (tail -f)" : ""),
            ctx: ctx)
        for (n, line) in lines.dropFirst(scroll).prefix(textRows).enumerated() {
            canvas.put(line, row: rect.row + 1 + n, col: rect.col + 2, limit: rect.right - 2)
        }
    }
}

extension Style {
    /// This style with bold set.
    func with(bold: Bool) -> Style {
        var s = self
        s.bold = bold
        return s
    }
}
