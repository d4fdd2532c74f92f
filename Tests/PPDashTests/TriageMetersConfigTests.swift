import PPTerm
import Synchronization
import Testing

@testable import PPDash
import PPKit
import PPSource
import PPSystem
import Glibc

/// Failure records of a mixed failed batch: three ways of failing, on a few engines.
func triageRecords() -> [FailureRecord] {
    var out: [FailureRecord] = []
    for i in 1...9 {
        out.append(
            FailureRecord(
                task: TaskID(i), batch: 1, engine: i % 3, status: .error, exitStatus: 1, signal: nil,
                firstLine: "cat: input\(i % 1).txt: No such file or directory"))
    }
    for i in 10...12 {
        out.append(
            FailureRecord(task: TaskID(i), batch: 1, engine: 0, status: .error, exitStatus: nil, signal: 9, firstLine: ""))
    }
    out.append(
        FailureRecord(
            task: TaskID(13), batch: 2, engine: nil, status: .timeout, exitStatus: nil, signal: nil,
            firstLine: "run-time limit exceeded"))
    return out
}

/// A fake source that also lists failures and takes engine exclusions.
final class TriageSource: DashboardSource {
    let inner = FakeSource()
    let records = Mutex<[FailureRecord]>(triageRecords())
    let log = Mutex<[String]>([])
    func snapshot(_ q: TableQuery) -> Snapshot { inner.snapshot(q) }
    func metadata(_ id: TaskID) -> TaskMetadata? { inner.metadata(id) }
    func submit(_ s: Submission) throws -> BatchID { try inner.submit(s) }
    func abort(task: TaskID) {}
    func abort(batch: BatchID) {}
    func retry(task: TaskID) throws {
        if task.rawValue == 12 { throw PPError(.invalidState, "not failed") }
        log.withLock { $0.append("retry \(task)") }
    }
    func retryFailed(batch: BatchID) throws -> Int { 0 }
    func setPaused(_ paused: Bool) {}
    func addEngine() throws -> EngineID { 9 }
    func removeEngine(_ id: EngineID?) throws -> EngineID { 0 }
    func stopAll() {}
    func failures() -> [FailureRecord]? { records.withLock { $0 } }
    func setExcluded(engine: EngineID, _ excluded: Bool) throws {
        log.withLock { $0.append("exclude \(engine) \(excluded)") }
    }
}

@Suite("Failure triage")
struct TriageTests {
    @Test("groups by status, exit or signal and first line; largest first; engines counted")
    func grouping() {
        let g = Triage.groups(triageRecords())
        #expect(g.count == 3)
        #expect(g[0].count == 9)
        #expect(g[0].reason == "exit 1")
        #expect(g[0].firstLine.contains("No such file"))
        #expect(g[0].enginesText == "e0×3 e1×3 e2×3")
        #expect(g[1].reason == "signal 9 (KILL)")
        #expect(g[1].tasks == [TaskID(10), TaskID(11), TaskID(12)])
        #expect(g[2].reason == "timeout")
        #expect(g[2].enginesText == "-")
        // Only failures count; an ok record is no group.
        #expect(Triage.groups([FailureRecord(task: TaskID(1), batch: 1, engine: 0, status: .ok, exitStatus: 0, signal: nil, firstLine: "")]).isEmpty)
        #expect(Triage.groups([]).isEmpty)
    }

    @Test("a group's filter selects exactly its tasks; the id list parses, bad lists search")
    func groupFilter() {
        let g = Triage.groups(triageRecords())[1]
        #expect(Triage.filter(for: g) == "#10,11,12")
        let f = TaskFilter("#10,11,12")
        #expect(!f.isEmpty)
        #expect(f == TaskFilter("10,11,12"))
        #expect(TaskFilter("10,x") == TaskFilter("\"10,x\""))  // not ids: a text search
    }

    @Test("the first error line: stderr's first non-blank line, else the error; control bytes dropped, long lines cut")
    func firstLine() {
        #expect(FailureRecord.firstLine(stderr: CapturedOutput(text: "\n  \n\u{1B}boom: bad\nmore\n"), error: "exit status 1") == "boom: bad")
        #expect(FailureRecord.firstLine(stderr: .empty, error: "exit status 3") == "exit status 3")
        #expect(FailureRecord.firstLine(stderr: .empty, error: nil) == "")
        let long = FailureRecord.firstLine(stderr: CapturedOutput(text: String(repeating: "x", count: 1000)), error: nil)
        #expect(long.count == FailureRecord.lineLimit)
        #expect(FailureRecord.firstLine(stderr: CapturedOutput(bytes: [0xFF, 0xFE, 10]), error: nil) == "\u{FFFD}\u{FFFD}")
    }

    func frame(_ ui: UIState, rows: Int, cols: Int) -> Canvas {
        let snap = Fixture.snapshot()
        var ui = ui
        ui.viewport = viewport(for: snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
        return render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
    }

    @Test("the triage view at 80x24 and 200x50: counts, reasons, engines, first lines, the selection")
    func renderTriage() {
        var ui = UIState()
        ui.showTriage = true
        ui.triage = Triage.groups(triageRecords())
        ui.triageSelected = 1
        for (rows, cols) in [(24, 80), (50, 200)] {
            let c = frame(ui, rows: rows, cols: cols)
            #expect(c.lines.allSatisfy { displayWidth($0) == cols })
            let text = c.text
            #expect(text.contains("Failure triage"))
            #expect(text.contains("3 groups of 13 failed tasks"))
            #expect(text.contains("exit 1"))
            #expect(text.contains("signal 9 (KILL)"))
            #expect(text.contains("e0×3 e1×3 e2×3"))
            #expect(text.contains("No such file or directory"))
            #expect(text.contains("(no error output)"))
            #expect(text.contains("Enter lists"))
            let sel = c.row(containing: "signal 9")!
            #expect(c[sel, cols / 2].style.reverse)
            #expect(c[sel + 1, cols / 2].style.reverse)
            #expect(!c[c.row(containing: "exit 1")!, cols / 2].style.reverse)
        }
        ui.triage = []
        #expect(frame(ui, rows: 24, cols: 80).text.contains("no failed tasks"))
        ui.triage = nil
        #expect(frame(ui, rows: 24, cols: 80).text.contains("cannot list failed tasks"))
    }

    @Test("! opens the triage; Enter filters the table to the group; R retries it; Esc closes; x excludes an engine")
    func keys() {
        let source = TriageSource()
        let c = DashboardController(source: source, size: Size(rows: 24, cols: 80), capabilities: color)
        c.handle(.char("!"))
        #expect(c.state.showTriage)
        #expect(c.state.triage?.count == 3)
        c.handle(.down)
        #expect(c.state.triageSelected == 1)
        c.handle(.char("R"))
        #expect(source.log.withLock { $0 } == ["retry 10", "retry 11"])
        #expect(c.state.message?.text.contains("2 tasks queued again") == true)
        #expect(c.state.message?.text.contains("not retried: 12") == true)
        c.handle(.enter)
        #expect(!c.state.showTriage)
        #expect(c.state.filter == "#10,11,12")
        #expect(c.state.focus == .table)
        c.handle(.escape)  // the message first, then the filter
        c.handle(.escape)
        #expect(c.state.filter == "")
        c.handle(.char("!"))
        c.handle(.escape)
        #expect(!c.state.showTriage)
        #expect(c.state.triage == nil)
        // x needs the engines pane.
        c.handle(.char("x"))
        #expect(source.log.withLock { $0 }.count == 2)
        c.handle(.tab)
        c.handle(.char("x"))
        #expect(source.log.withLock { $0 }.last == "exclude 0 true")
        #expect(c.state.message?.text.contains("excluded") == true)
    }

    @Test("a source that cannot list failures says so; excluding there is an error message, not a crash")
    func unsupportedSource() {
        let c = DashboardController(source: FakeSource(), size: Size(rows: 24, cols: 80), capabilities: color)
        c.handle(.char("!"))
        #expect(c.state.showTriage && c.state.triage == nil)
        c.handle(.escape)
        c.handle(.tab)
        c.handle(.char("x"))
        #expect(c.state.message?.isError == true)
        #expect(c.state.message?.text.contains("cannot exclude") == true)
    }

    @Test("an excluded engine shows as excluded in the engines pane")
    func excludedShows() {
        var snap = Fixture.snapshot()
        snap.engines[1].excluded = true
        var ui = UIState()
        ui.viewport = viewport(for: snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
        let c = render(snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
        let row = c.lines[c.row(containing: "Engines 4")! + 3]
        #expect(row.contains("excluded"), "\(row)")
    }
}

@Suite("Resource meters in the dashboard")
struct MeterRenderTests {
    func snapshotWithMeters() -> Snapshot {
        var snap = Fixture.snapshot()
        let host = HostLoad(load1: 3.5, availableBytes: 6 << 30, totalBytes: 16 << 30, cpus: 8)
        snap.engines[0].meters = EngineMeters(taskCPUPercent: 98.6, taskRSSBytes: 12 << 20, host: host)
        snap.engines[1].meters = EngineMeters(host: host)
        return snap
    }

    @Test("the engines pane shows CPU and memory of the running task and the host's load and free memory")
    func enginesPane() {
        let snap = snapshotWithMeters()
        for (rows, cols) in [(24, 80), (50, 200)] {
            var ui = UIState()
            ui.viewport = viewport(for: snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
            let c = render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
            let header = c.lines[c.row(containing: "Engines 4")! + 1]
            #expect(header.contains("CPU") && header.contains("Mem"), "\(header)")
            let busy = c.lines[c.row(containing: "Engines 4")! + 2]
            #expect(busy.contains("99%") && busy.contains("12M"), "\(busy)")
            // An idle engine has no task meters: dashes.
            let idle = c.lines[c.row(containing: "Engines 4")! + 3]
            #expect(!idle.contains("99%") && !idle.contains("12M") && idle.contains("    -     -"), "\(idle)")
        }
        // A wide engines pane (the side-by-side layout gives it half the screen) has the host's columns too.
        var wide = Canvas(rows: 8, cols: 160)
        EnginesPane.draw(
            into: &wide, rect: Rect(row: 0, col: 0, width: 160, height: 8), rows: 6, snapshot: snap, ui: UIState(),
            ctx: RenderContext(theme: Theme(colors: true), glyphs: .for(unicode: true), now: snap.time))
        #expect(wide.lines[1].contains("Load") && wide.lines[1].contains("Free"), "\(wide.lines[1])")
        #expect(wide.lines[2].contains("3.50") && wide.lines[2].contains("6.0G"), "\(wide.lines[2])")
        #expect(wide.lines[3].contains("3.50") && !wide.lines[3].contains("99%"), "\(wide.lines[3])")
    }

    @Test("the detail view: a finished task's cpu_user, cpu_system and peak memory; a running one's meters now")
    func detail() {
        var m = Fixture.metadata(7)
        m.usage = ResourceUsage(userSeconds: 1.25, systemSeconds: 0.5, maxRSSBytes: 3 << 20)
        let ctx = RenderContext(theme: Theme(colors: true), glyphs: .for(unicode: true), now: t0.adding(seconds: 5))
        let text = DetailView.lines(m, id: m.id, width: 76, now: ctx.now, ctx: ctx).map { $0.map(\.text).joined() }
        #expect(text.contains { $0.contains("resources") && $0.contains("cpu 1.25 s user, 0.50 s system; peak memory 3.0 MiB") })
        var r = Fixture.metadata(8, status: .running)
        r.completed = nil
        let live = DetailView.lines(
            r, id: r.id, width: 76, now: ctx.now, ctx: ctx, meters: EngineMeters(taskCPUPercent: 250, taskRSSBytes: 1 << 30)
        ).map { $0.map(\.text).joined() }
        #expect(live.contains { $0.contains("cpu 250%, memory 1024.0 MiB now") })
    }

    @Test("formats: seconds, percent, memory, load, with edges")
    func formats() {
        #expect(Format.seconds(0) == "0.00 s")
        #expect(Format.seconds(1.005) == "1.00 s" || Format.seconds(1.005) == "1.01 s")
        #expect(Format.seconds(-3) == "0.00 s")
        #expect(Format.seconds(.nan) == "- s")
        #expect(Format.percent(nil) == "-")
        #expect(Format.percent(.infinity) == "-")
        #expect(Format.percent(-5) == "0%")
        #expect(Format.memory(nil) == "-")
        #expect(Format.memory(512 * 1024) == "512K")
        #expect(Format.memory(12 << 20) == "12M")
        #expect(Format.memory(Int64(1.5 * 1024 * 1024 * 1024)) == "1.5G")
        #expect(Format.memory(Int64.max).count <= 12)
        #expect(Format.load(0.005) == "0.01" || Format.load(0.005) == "0.00")
        #expect(Format.load(250) == "250")
    }
}

@Suite("Detail view follows live output")
struct DetailFollowTests {
    @Test("G follows the output (sticks to the bottom as it grows); scrolling up stops following; help names it")
    func follow() {
        let source = FakeSource()
        var ui = UIState()
        ui.mode = .detail
        ui.detailTask = TaskID(3)
        var m = Fixture.metadata(3, status: .running, stdout: (1...60).map { "line \($0)" }.joined(separator: "\n") + "\n")
        m.completed = nil
        ui.detail = m
        let snap = source.snapshot(TableQuery())
        func frame() -> Canvas {
            ui.viewport = viewport(for: snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
            return render(snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
        }
        _ = frame()
        _ = ui.handle(.char("G"), snapshot: snap)
        #expect(ui.detailScroll == Int.max)
        let following = frame()
        #expect(following.text.contains("following (tail -f)"))
        #expect(following.text.contains("line 60"))
        _ = ui.handle(.up, snapshot: snap)
        #expect(ui.detailScroll < Int.max)
        #expect(!frame().text.contains("following"))
        #expect(KeyMap.helpLines().contains { $0.text.contains("tail -f") })
    }
}

@Suite("Column chooser")
struct ColumnChooserTests {
    @Test("C opens it; Space hides and shows; K/J move; D resets; w asks to save; the table follows the order")
    func keys() {
        var ui = UIState()
        _ = ui.handle(.char("C"), snapshot: Fixture.snapshot())
        #expect(ui.showColumns)
        // Hide Batch (row 1).
        _ = ui.handle(.down, snapshot: nil)
        _ = ui.handle(.char(" "), snapshot: nil)
        #expect(!ui.columns.contains(.batch))
        // Move Command (last shown) to the front.
        ui.columnCursor = ui.columns.firstIndex(of: .text)!
        for _ in 0..<20 { _ = ui.handle(.char("K"), snapshot: nil) }
        #expect(ui.columns.first == .text)
        #expect(ui.handle(.char("w"), snapshot: nil) == [.saveColumns(ui.columns)])
        // The last shown column cannot be hidden.
        var one = UIState()
        one.columns = [.id]
        one.showColumns = true
        _ = one.handle(.char(" "), snapshot: nil)
        #expect(one.columns == [.id])
        #expect(one.message?.isError == true)
        _ = ui.handle(.char("D"), snapshot: nil)
        #expect(ui.columns == SortKey.allCases)
        _ = ui.handle(.escape, snapshot: nil)
        #expect(!ui.showColumns)
    }

    @Test("the chooser at 80x24 and 200x50, and a table with chosen columns in the chosen order")
    func render80And200() {
        let snap = Fixture.snapshot()
        for (rows, cols) in [(24, 80), (50, 200)] {
            var ui = UIState()
            ui.columns = [.text, .status, .id]
            ui.showColumns = true
            ui.viewport = viewport(for: snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
            let c = render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
            #expect(c.text.contains("Task table columns"))
            #expect(c.text.contains("[x] Command (command)"))
            #expect(c.text.contains("[ ] Batch (batch)"))
            #expect(c.lines.allSatisfy { displayWidth($0) == cols })
            ui.showColumns = false
            let t = render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: color)
            let header = t.lines[t.row(containing: "Tasks")! + 1]
            let cmd = header.range(of: "Command")!.lowerBound
            let id = header.range(of: "ID")!.lowerBound
            #expect(cmd < id, "\(header)")
            #expect(!header.contains("Batch") && !header.contains("Retries") && !header.contains("Duration"), "\(header)")
        }
    }
}

@Suite("Config file")
struct ConfigTests {
    @Test("every setting read; unknown keys warn; bad values name the key and keep the default")
    func parse() {
        let (c, w) = ConfigFile.parse(
            """
            refresh = 0.5
            theme = "light"
            mouse = false
            ascii = true
            [table]
            columns = ["status", "command", "id"]
            sort = "duration"
            order = "descending"
            """, path: "/c.toml")
        #expect(w.isEmpty, "\(w)")
        #expect(c.refresh == 0.5)
        #expect(c.theme == .light)
        #expect(c.mouse == false)
        #expect(c.ascii == true)
        #expect(c.columns == [.status, .text, .id])
        #expect(c.sort == .duration)
        #expect(c.ascending == false)

        let (bad, warnings) = ConfigFile.parse(
            """
            refresh = -1
            theme = "neon"
            mouse = "yes"
            colour = 3
            [table]
            columns = ["id", "bogus"]
            sort = 5
            order = "up"
            extra = 1
            """, path: "/c.toml")
        #expect(bad == DashboardConfig())
        #expect(warnings.count == 8, "\(warnings)")
        for key in ["refresh", "theme", "mouse", "unknown key colour", "table.columns", "table.sort", "table.order", "unknown key table.extra"] {
            #expect(warnings.contains { $0.contains(key) && $0.hasPrefix("ppdash: /c.toml: ") }, "\(key)")
        }
        #expect(warnings.allSatisfy { !$0.contains("\n") })
    }

    @Test("edges: an int refresh, NaN and inf, huge numbers, a broken file, NUL bytes, empty lists, duplicates")
    func edges() {
        #expect(ConfigFile.parse("refresh = 1", path: "p").0.refresh == 1)
        for v in ["nan", "inf", "-inf", "1e308", "0", "11", "9223372036854775807"] {
            let (c, w) = ConfigFile.parse("refresh = \(v)", path: "p")
            #expect(c.refresh == nil && w.count == 1, "\(v): \(w)")
        }
        let (broken, w1) = ConfigFile.parse("refresh = [1,\ntheme = ", path: "p")
        #expect(broken == DashboardConfig())
        #expect(w1.count == 1 && w1[0].contains("line "), "\(w1)")
        let (nul, w2) = ConfigFile.parse("refresh = 1\0", path: "p")
        #expect(nul == DashboardConfig() && w2.count == 1)
        #expect(ConfigFile.parse("[table]\ncolumns = []", path: "p").1.count == 1)
        #expect(ConfigFile.parse("[table]\ncolumns = [\"id\", \"ID\", \"id\"]", path: "p").0.columns == [.id])
        #expect(ConfigFile.parse("table = 3", path: "p").1.count == 1)
        #expect(ConfigFile.parse("", path: "p") == (DashboardConfig(), []))
        let long = ConfigFile.parse("theme = \"" + String(repeating: "z", count: 5000) + "\"", path: "p").1
        #expect(long.count == 1 && long[0].count < 200)
    }

    @Test("the default path: XDG_CONFIG_HOME, else HOME/.config; a relative XDG_CONFIG_HOME is ignored")
    func defaultPath() {
        #expect(ConfigFile.defaultPath(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/ppdash/config.toml")
        #expect(ConfigFile.defaultPath(environment: ["XDG_CONFIG_HOME": "rel", "HOME": "/h"]) == "/h/.config/ppdash/config.toml")
        #expect(ConfigFile.defaultPath(environment: [:]) == nil)
    }

    @Test("save writes the columns, keeps other settings, makes the directory; load reads them back; a missing default is fine")
    func saveAndLoad() throws {
        let dir = "/tmp/ppdash-dashb-config-\(SystemFacts.pid)-\(UInt32.random(in: 0...UInt32.max))"
        let path = dir + "/ppdash/config.toml"
        defer {
            _ = PrivateFiles.remove(path)
            _ = PrivateFiles.removeEmptyDirectory(dir + "/ppdash")
            _ = PrivateFiles.removeEmptyDirectory(dir)
        }
        #expect(try ConfigFile.load(path: path, mustExist: false).get() == (DashboardConfig(), []))
        if case .success = ConfigFile.load(path: path, mustExist: true) { Issue.record("a missing --config file loads") }
        try ConfigFile.save(columns: [.status, .text], sort: .engine, ascending: false, to: path)
        var (c, w) = try ConfigFile.load(path: path, mustExist: true).get()
        #expect(w.isEmpty)
        #expect(c.columns == [.status, .text] && c.sort == .engine && c.ascending == false)
        // Other settings survive a save.
        try ("refresh = 0.25\ntheme = \"mono\"\n[table]\ncolumns = [\"id\"]\n").write(path)
        try ConfigFile.save(columns: [.id, .duration], sort: .id, ascending: true, to: path)
        (c, w) = try ConfigFile.load(path: path, mustExist: true).get()
        #expect(c.refresh == 0.25 && c.theme == .mono && c.columns == [.id, .duration], "\(w)")
        // A broken file is never overwritten.
        try "refresh = [".write(path)
        #expect(throws: ConfigError.self) { try ConfigFile.save(columns: [.id], sort: .id, ascending: true, to: path) }
        #expect(String(decoding: SystemFacts.contents(of: path) ?? [], as: UTF8.self) == "refresh = [")
    }

    @Test("a config's table settings and theme reach the view state; mono drops colours, light changes them")
    func apply() {
        var config = DashboardConfig()
        config.columns = [.id, .status]
        config.sort = .duration
        config.ascending = false
        config.theme = .mono
        var ui = UIState()
        ui.apply(config)
        #expect(ui.columns == [.id, .status] && ui.sort == .duration && !ui.ascending && ui.theme == .mono)
        let snap = Fixture.snapshot()
        let c = render(snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
        #expect(c.styles.allSatisfy { $0.fg == .default && $0.bg == .default })
        ui.theme = .light
        let l = render(snap, ui, size: Size(rows: 24, cols: 80), capabilities: color)
        #expect(!l.styles.contains { $0.fg == .yellow && $0.bg == .default })
        ui.theme = .dark
        #expect(render(snap, ui, size: Size(rows: 24, cols: 80), capabilities: color).styles.contains { $0.fg == .yellow })
    }
}

extension String {
    /// Writes the string to `path` (tests only).
    func write(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw PPError(.invalidState, "open \(path)") }
        defer { close(fd) }
        let b = Array(utf8)
        guard b.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == b.count else {
            throw PPError(.invalidState, "write \(path)")
        }
    }
}
