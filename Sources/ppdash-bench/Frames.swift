import Foundation
import PPDash
import PPKit
import PPSource
import PPSystem
import PPTerm
import PPTestSupport

/// The dashboard's figures: what a frame costs, and which panes spend the terminal's bytes.
enum Frames {
    static let size = Size(rows: 30, cols: 100)
    static let caps = TermCapabilities(unicode: true, colors: true)

    /// Median microseconds per frame with 100 and with `many` finished tasks: snapshot + render, and the same drawn
    /// through a VirtualScreen (ncurses erase + copy + refresh). Both dashboards are warmed up, then measured in turns.
    static func cost(many: Int, frames: Int) throws -> (
        small: (render: Double, screen: Double), big: (render: Double, screen: Double)
    ) {
        var clients = [Client]()
        defer { for c in clients { c.shutdown() } }
        var controllers = [DashboardController]()
        for tasks in [100, many] {
            let client = Client(engines: 4)
            clients.append(client)
            _ = try client.loadBalancedView().submit(builtins: [BuiltinTask](repeating: .noop, count: tasks)).wait()
            controllers.append(DashboardController(source: LocalSource(client: client), size: size, capabilities: caps))
        }
        let render = frameMedians(controllers, frames: frames)
        var screen: [Double] = []
        for c in controllers {
            let s = try VirtualScreen(rows: size.rows, cols: size.cols)
            defer { s.close() }
            var drawn = [Double]()
            for k in 0..<(frames + 20) {
                let t0 = SystemTime.monotonicNanoseconds()
                c.poll()
                s.draw(c.frame())
                if k >= 20 { drawn.append(Double(SystemTime.monotonicNanoseconds() - t0) / 1e3) }
            }
            screen.append(median(drawn))
        }
        return ((render[0], screen[0]), (render[1], screen[1]))
    }

    /// The dashboard's panes, for attributing bytes.
    static let panes = ["header", "engines", "progress", "table", "status"]

    /// Terminal bytes per second while `line` runs on 4 in-process engines, polled and drawn at 10 Hz for
    /// `duration` seconds at 100x30, and each pane's share: the frames are recorded, then replayed through an
    /// ncurses screen writing to a file; a pane's bytes are those sent when only that pane changes from the last frame.
    static func paneBytes(line: String, duration: Double) throws -> (
        total: Double, firstPaint: Int, perPane: [String: Double]
    ) {
        let client = Client(engines: 4)
        defer { client.shutdown() }
        let controller = DashboardController(source: LocalSource(client: client), size: size, capabilities: caps)
        controller.calmInterval = DashboardOptions().calmInterval  // as the app runs it
        _ = try controller.source.submit(line: line)
        var frames = [(Canvas, Layout, Double)]()
        let start = seconds()
        var next = start
        var drawn: (UInt64, Int)?
        while seconds() - start < duration {
            controller.poll()
            // As the app loop: a frame is drawn when the scheduler's generation or the clock's second changed.
            let key = (controller.snapshot.generation, Int(seconds()))
            if drawn.map({ $0 != key }) ?? true {
                frames.append((controller.frame(), layout(for: controller.snapshot, size: size), seconds() - start))
                drawn = key
            }
            next += 0.1
            let wait = next - seconds()
            Timings.sleep(wait)
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ppdash-bench-screen-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let screen = try VirtualScreen(rows: size.rows, cols: size.cols, outputPath: path)
        defer { screen.close() }
        screen.draw(frames[0].0)
        let firstPaint = screen.bytesWritten
        var total = 0
        var perPane = [String: Int]()
        // As the pty figure: the first second (the first paint, the table's first rows finishing) is left out.
        for i in 1..<frames.count {
            let prev = frames[i - 1].0
            let (cur, lay, at) = frames[i]
            if at < 1 {
                screen.draw(cur)
                continue
            }
            for (name, rect) in zip(panes, [lay.header, lay.engines, lay.progress, lay.table, lay.status]) {
                var hybrid = prev
                for r in rect.row..<rect.bottom { for c in rect.col..<rect.right { hybrid[r, c] = cur[r, c] } }
                let before = screen.bytesWritten
                screen.draw(hybrid)
                perPane[name, default: 0] += screen.bytesWritten - before
                screen.draw(prev)
            }
            let before = screen.bytesWritten
            screen.draw(cur)
            total += screen.bytesWritten - before
        }
        let secs = seconds() - start - 1
        return (Double(total) / secs, firstPaint, perPane.mapValues { Double($0) / secs })
    }
}

extension Frames {
    /// Median microseconds of one poll and frame for each controller, interleaved over `frames` rounds after 20
    /// warm-up rounds (so machine noise falls on every controller alike).
    static func frameMedians(_ controllers: [DashboardController], frames: Int) -> [Double] {
        func frame(_ c: DashboardController) -> Double {
            let t0 = SystemTime.monotonicNanoseconds()
            c.poll()
            _ = c.frame()
            return Double(SystemTime.monotonicNanoseconds() - t0) / 1e3
        }
        for _ in 0..<20 { for c in controllers { _ = frame(c) } }
        var times = [[Double]](repeating: [], count: controllers.count)
        for _ in 0..<frames { for (i, c) in controllers.enumerated() { times[i].append(frame(c)) } }
        return times.map { median($0) }
    }
}

extension Frames {
    /// One dashboard over `tasks` finished no-ops on `engines` engines (the task stream shown if `stream`), 20
    /// frames to warm up, then `frames` frames in `profiledFrames` (the function a profiler collects in), each
    /// followed by the source's upkeep if `idle`; returns the mean microseconds per frame.
    static func profile(tasks: Int, engines: Int, frames: Int, stream: Bool, idle: Bool, wait: Bool) throws -> Double {
        let client = Client(engines: engines)
        defer { client.shutdown() }
        _ = try client.loadBalancedView().submit(builtins: [BuiltinTask](repeating: .noop, count: tasks)).wait()
        let controller = DashboardController(source: LocalSource(client: client), size: size, capabilities: caps)
        if stream { showStream(controller) }
        for _ in 0..<20 {
            controller.poll()
            _ = controller.frame()
            if idle { _ = controller.idle() }
        }
        if wait {
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            _ = readLine()
        }
        let t0 = SystemTime.monotonicNanoseconds()
        profiledFrames(controller, frames: frames, idle: idle)
        return Double(SystemTime.monotonicNanoseconds() - t0) / 1e3 / Double(max(1, frames))
    }

    /// `frames` polls and frames of `controller`: kept out of line so a profiler can collect in it alone.
    @inline(never)
    static func profiledFrames(_ controller: DashboardController, frames: Int, idle: Bool) {
        for _ in 0..<frames {
            controller.poll()
            _ = controller.frame()
            if idle { _ = controller.idle() }
        }
    }

    /// Shows the task stream, whether the layout would or not.
    static func showStream(_ controller: DashboardController) {
        controller.update { $0.streamShown = true }
        controller.poll(force: true)
    }
}
