// The thin app loop: puts controller frames on the real terminal, reads keys, polls at the refresh interval, handles signals.
import Glibc
import PPKit
import PPSource
import PPTerm

/// How the dashboard runs.
public struct DashboardOptions: Sendable {
    /// Seconds between snapshots (and the longest wait for a key).
    public var refreshInterval: Double
    /// ncurses' ESCDELAY: how long a lone Esc waits for the rest of a key sequence.
    public var escapeDelayMilliseconds: Int
    /// Force colours off (`--no-color`); nil lets the terminal and NO_COLOR decide.
    public var colors: Bool?
    /// Force ASCII drawing; nil lets the locale decide.
    public var unicode: Bool?
    /// At most this many recent batches get a progress bar (fewer when the screen is small).
    public var batchLimit: Int
    /// The view is attached to another ppdash (`ppdash attach`): `q`/`d` detach, `Q` stops the batch.
    public var attached = false
    /// Seconds between refreshes of the header, engine rows and clocks (`DashboardController.calmInterval`).
    public var calmInterval = 1.0
    /// Mouse reporting on at start (`--no-mouse` turns it off; `m` toggles it).
    public var mouse = true
    /// The saved settings (the config file): columns, sort, theme, ASCII, mouse; and where the column chooser saves.
    public var config = DashboardConfig()
    public var configPath: String?
    /// What was wrong in the config file (shown on the status line; the caller also prints them).
    public var configWarnings: [String] = []

    /// Options with the defaults the spec gives (10 Hz, 25 ms ESCDELAY, the terminal decides colours and Unicode).
    public init(
        refreshInterval: Double = 0.1, escapeDelayMilliseconds: Int = 25, colors: Bool? = nil, unicode: Bool? = nil,
        batchLimit: Int = 16
    ) {
        self.refreshInterval = refreshInterval
        self.escapeDelayMilliseconds = escapeDelayMilliseconds
        self.colors = colors
        self.unicode = unicode
        self.batchLimit = batchLimit
    }
}

/// How the dashboard ended.
public enum DashboardExit: Sendable, Hashable {
    /// The user quit (`q`, or Ctrl-C): exit status 0.
    case quit
    /// SIGTERM, or SIGINT from another process: the terminal was restored.
    case terminated
    /// SIGHUP: the terminal is gone; nothing was written to it. The caller may let the batch run on.
    case hangup
    /// No dashboard could start here (not a tty, TERM unset/dumb/unknown): the reason, for a one-line note.
    case noTerminal(String)
}

/// Runs the dashboard on the controlling terminal until the user quits, a signal ends it, or the link drops.
public func runDashboard(source: any DashboardSource, options: DashboardOptions = DashboardOptions()) -> DashboardExit {
    let terminal: Terminal
    do {
        terminal = try Terminal.open(escapeDelayMilliseconds: options.escapeDelayMilliseconds)
    } catch {
        return .noTerminal(error.description)
    }
    var trap = SignalTrap()
    trap.install()
    let exit = DashboardLoop(terminal: terminal, source: source, options: options).run(trap: trap)
    // After a hangup the batch runs on: a second SIGHUP (the shell passes its own on) must not end it.
    trap.restore(ignoring: exit == .hangup ? [SIGHUP] : [])
    terminal.close(touchTerminal: exit != .hangup)
    return exit
}

/// The loop itself, kept apart from setup and teardown.
struct DashboardLoop {
    let terminal: Terminal
    let controller: DashboardController
    let interval: Double
    private let clock = SystemClock()

    init(terminal: Terminal, source: any DashboardSource, options: DashboardOptions) {
        self.terminal = terminal
        var caps = terminal.capabilities
        if let c = options.colors { caps.colors = caps.colors && c }
        if let u = options.unicode { caps.unicode = caps.unicode && u }
        if options.config.ascii == true { caps.unicode = false }
        let (rows, cols) = terminal.size
        controller = DashboardController(
            source: source, size: Size(rows: rows, cols: cols), capabilities: caps, batchLimit: options.batchLimit)
        if options.attached { controller.update { $0.attached = true } }
        let mouse = options.mouse
        controller.update { $0.mouse = mouse }
        controller.update { $0.apply(options.config) }
        controller.configPath = options.configPath
        if let w = options.configWarnings.first {
            let more = options.configWarnings.count > 1 ? " (and \(options.configWarnings.count - 1) more on stderr)" : ""
            controller.update { $0.message = StatusMessage(w + more, isError: true) }
        }
        controller.calmInterval = max(0, options.calmInterval)
        interval = min(10, max(0.02, options.refreshInterval))
    }

    private func now() -> Double { Double(clock.monotonicNanoseconds()) / 1e9 }

    /// What a drawn frame depended on: when it changes, draw again.
    private struct DrawKey: Equatable {
        var generation: UInt64
        var state: UIState
        var size: Size
        var second: Int
        var paused: Bool
    }

    func run(trap: borrowing SignalTrap) -> DashboardExit {
        var drawn: DrawKey?
        var nextPoll = now() + interval
        var upkeepDue = true
        while true {
            let caught = trap.take()
            if caught.contains(.hangup) { return .hangup }
            if caught.contains(.terminate) { return .terminated }
            if caught.contains(.keyboardInterrupt), controller.handle(.ctrl("c")) == .quit { return .quit }
            if caught.contains(.stop) {
                terminal.suspend()
                trap.stopProcess()
                terminal.resume()
                drawn = nil
            }
            if caught.contains(.cont) {
                terminal.resume()
                drawn = nil
            }

            if terminal.mouseOn != controller.state.mouse { terminal.setMouse(controller.state.mouse) }
            let (rows, cols) = terminal.size
            controller.resize(to: Size(rows: rows, cols: cols))
            let key = DrawKey(
                generation: controller.snapshot.generation, state: controller.state, size: controller.size,
                second: Int(now()), paused: controller.snapshot.paused)
            // A slow link holds frames until the terminal caught up; then the newest state goes (frames coalesce).
            if key != drawn, terminal.readyToDraw {
                terminal.draw(controller.frame())
                drawn = key
            }
            if let bytes = controller.pendingClipboard {
                controller.pendingClipboard = nil
                terminal.writeRaw(osc52(bytes))
            }

            // Upkeep that is no part of a frame (the key copy a sort reads), once per refresh, in the wait for a key.
            if upkeepDue {
                upkeepDue = false
                _ = controller.idle()
            }
            let wait = max(0, Int(((nextPoll - now()) * 1000).rounded(.up)))
            if let first = terminal.readKey(timeoutMilliseconds: wait) {
                // Handle this key and any already typed (a paste) before drawing again.
                var pending: Key? = first
                var handled = 0
                while let k = pending, handled < 256 {
                    if controller.handle(k) == .quit { return .quit }
                    handled += 1
                    pending = terminal.readKey(timeoutMilliseconds: 0)
                }
            }
            let t = now()
            if t >= nextPoll {
                controller.poll()
                nextPoll = max(nextPoll + interval, t + interval / 2)
                upkeepDue = true
            }
        }
    }
}
