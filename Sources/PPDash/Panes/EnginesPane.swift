// The engines pane: one row per engine with its state, current task, counters, utilisation and last minute's activity.
import PPKit
import PPSource
import PPTerm

enum EnginesPane {
    enum Col: Hashable { case id, state, kind, host, task, queued, done, failed, util, activity, note, cpu, mem, load, free }

    /// The columns, fitted to `width`.
    static func columns(width: Int, x: Int) -> [Placed<Col>] {
        fitColumns(
            [
                Column(id: .id, header: "ID", width: 3, right: true, priority: 100),
                Column(id: .state, header: "State", width: 8, priority: 99),
                Column(id: .kind, header: "Kind", width: 5, priority: 40),
                Column(id: .host, header: "Host", width: 6, priority: 60, flex: true, maxWidth: 24),
                Column(id: .task, header: "Task", width: 6, right: true, priority: 90),
                Column(id: .queued, header: "Queue", width: 5, right: true, priority: 10),
                Column(id: .done, header: "Done", width: 6, right: true, priority: 80),
                Column(id: .failed, header: "Fail", width: 5, right: true, priority: 79),
                Column(id: .util, header: "Util", width: 4, right: true, priority: 70),
                Column(id: .activity, header: "Last minute", width: 12, priority: 75),
                // Resource meters: the running task's process tree, then its host.
                Column(id: .cpu, header: "CPU", width: 4, right: true, priority: 58),
                Column(id: .mem, header: "Mem", width: 5, right: true, priority: 57),
                Column(id: .load, header: "Load", width: 5, right: true, priority: 35),
                Column(id: .free, header: "Free", width: 5, right: true, priority: 34),
                Column(id: .note, header: "Note", width: 12, priority: 5, flex: true),
            ], width: width, at: x)
    }

    static func draw(
        into canvas: inout Canvas, rect: Rect, rows: Int, snapshot: Snapshot, ui: UIState, ctx: RenderContext
    ) {
        guard rect.height > 0 else { return }
        let t = ctx.theme
        // The counts come with the snapshot (kept by the source as engines change), the rows are the window shown.
        let counts = snapshot.engineCounts
        let queuedJobs = counts.queued  // batch jobs not yet connected: counted apart, not idle
        let total = snapshot.engineCount
        var info = [Span("\(counts.busy) busy", t.warn), Span("\(counts.idle) idle", t.ruleInfo)]
        if queuedJobs > 0 { info.append(Span("\(queuedJobs) queued", t.ruleInfo)) }
        if counts.draining > 0 { info.append(Span("\(counts.draining) draining", t.style(.magenta))) }
        if counts.dead > 0 { info.append(Span("\(counts.dead) dead", t.bad)) }
        if counts.removed > 0 { info.append(Span("\(counts.removed) removed", t.dim)) }
        let first = min(ui.engineOffset, max(0, total - rows))
        let last = min(total, first + rows)
        let right = total > rows ? [Span("\(first + 1)-\(last) of \(total)", t.ruleInfo)] : []
        canvas.rule(
            row: rect.row, col: rect.col, width: rect.width, title: "Engines \(total)",
            focused: ui.focus == .engines && ui.mode == .main, left: info, right: right, ctx: ctx)
        guard rect.height > 1 else { return }

        let cols = columns(width: rect.width - 1, x: rect.col + 1)
        let hr = rect.row + 1
        canvas.fill(row: hr, col: rect.col, width: rect.width, style: t.columnHeader)
        for p in cols {
            canvas.cell(
                p.column.header, row: hr, col: p.x, width: p.width, right: p.column.right, style: t.columnHeader,
                unicode: ctx.unicode)
        }
        if total == 0 {
            canvas.put(
                "no engines: press + to add one", row: hr + 1, col: rect.col + 2, style: t.dim, width: rect.width - 2)
            return
        }
        for position in first..<max(first, last) {
            let r = hr + 1 + position - first
            guard r < rect.bottom else { break }
            // A row the snapshot does not carry (its window is a frame behind a scroll) stays blank for a frame.
            guard let e = snapshot.engine(at: position) else { continue }
            drawRow(e, into: &canvas, row: r, cols: cols, ctx: ctx)
            if position == ui.engineSelected, ui.focus == .engines, ui.mode == .main {
                canvas.restyle(row: r, col: rect.col, width: rect.width) { $0.reverse = true }
            }
        }
    }

    /// An engine's state as the pane says it: a removed engine is `removed`, not `dead`.
    static func stateLabel(_ state: EngineState) -> String {
        if case .dead(let reason) = state, reason == "removed" { return "removed" }
        return state.label
    }

    static func drawRow(
        _ e: EngineSnapshot, into canvas: inout Canvas, row: Int, cols: [Placed<Col>], ctx: RenderContext
    ) {
        let t = ctx.theme
        let rowStyle: Style = e.state.isAlive ? .plain : t.dim
        for p in cols {
            let (text, style): (String, Style)
            switch p.column.id {
            case .id: (text, style) = (String(e.id), t.value)
            case .state:
                if let job = e.job, job.isQueued, e.state.isAlive {
                    (text, style) = ("queued", t.ruleInfo)  // a Slurm job not yet connected: the note says why
                } else if e.excluded && e.state.isAlive {
                    (text, style) = ("excluded", t.style(.magenta, bold: true))
                } else {
                    (text, style) = (EnginesPane.stateLabel(e.state), t.engine(e.state))
                }
            case .kind: (text, style) = (e.info.kind == .connected ? "conn" : e.info.kind.rawValue, rowStyle)
            case .host: (text, style) = (e.job.map { $0.node ?? "-" } ?? e.info.host, rowStyle)
            case .task:
                if case .dead(let reason) = e.state {
                    // A dead engine has no task, queue or activity: its reason and final counts take their place.
                    let end = cols.last.map { $0.x + $0.width } ?? (p.x + p.width)
                    let x =
                        p.x + canvas.put(reason, row: row, col: p.x, style: reason == "removed" ? t.dim : t.bad, width: end - p.x)
                    canvas.put(
                        "  (\(Format.count(e.done)) done, \(Format.count(e.failed)) failed)", row: row, col: x,
                        style: t.dim,
                        width: end - x)
                    return
                }
                (text, style) = (
                    e.currentTask.map { String($0.rawValue) } ?? "-", e.currentTask == nil ? t.dim : t.warn
                )
            case .queued: (text, style) = (e.queued > 0 ? String(e.queued) : "-", rowStyle)
            case .done: (text, style) = (Format.count(e.done), rowStyle)
            case .failed: (text, style) = (Format.count(e.failed), e.failed > 0 ? t.bad : t.dim)
            case .util: (text, style) = (Format.fraction(e.utilisation), rowStyle)
            case .activity:
                (text, style) = (Format.sparkline(e.activity, width: p.width, unicode: ctx.unicode), t.spark)
            case .cpu:
                let c = e.currentTask == nil ? nil : e.meters?.taskCPUPercent
                (text, style) = (Format.percent(c), c == nil ? t.dim : (c ?? 0) >= 90 ? t.warn : rowStyle)
            case .mem:
                let m = e.currentTask == nil ? nil : e.meters?.taskRSSBytes
                (text, style) = (Format.memory(m), m == nil ? t.dim : rowStyle)
            case .load:
                let h = e.meters?.host
                let busy = h.map { $0.cpus > 0 && $0.load1 > Double($0.cpus) } ?? false
                (text, style) = (h.map { Format.load($0.load1) } ?? "-", h == nil ? t.dim : busy ? t.warn : rowStyle)
            case .free:
                let h = e.meters?.host
                let low = h.map { $0.totalBytes > 0 && $0.availableBytes * 10 < $0.totalBytes } ?? false
                (text, style) = (Format.memory(h?.availableBytes), h == nil ? t.dim : low ? t.bad : rowStyle)
            case .note where e.job != nil:
                (text, style) = (jobNote(e.job!), t.dim)
            case .note:
                (text, style) = (
                    e.info.pid > 0 ? "pid \(e.info.pid)" + (e.info.cores > 0 ? ", \(e.info.cores) cores" : "") : "",
                    t.dim
                )
            }
            canvas.cell(
                text, row: row, col: p.x, width: p.width, right: p.column.right, style: style, unicode: ctx.unicode)
        }
    }

    /// A Slurm engine's job as the note shows it: `job 12_3 PENDING (Priority)`, `job 12_3 RUNNING on n1, 59:58 left`.
    static func jobNote(_ job: EngineJob) -> String {
        var s = "job \(job.id) \(job.state)"
        if let r = job.reason, job.state == "PENDING" || !job.connected { s += " (\(r))" }
        if let n = job.node, job.state == "RUNNING" { s += " on \(n)" }
        if let left = job.timeLeft, job.state == "RUNNING" { s += ", \(left) left" }
        return s
    }
}
