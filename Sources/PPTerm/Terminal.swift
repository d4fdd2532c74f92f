// The real terminal: ncurses set up safely (never initscr), drawing Canvases and reading Keys.
import CNcurses
import PPSystem

import Glibc

/// Why the dashboard cannot run on this terminal (callers fall back to plain output).
public enum TerminalError: Error, CustomStringConvertible, Sendable, Equatable {
    case notATerminal, noTERM, dumbTerminal(String), unknownTerminal(String), cannotStart(String)

    /// One clear line.
    public var description: String {
        switch self {
        case .notATerminal: "stdin/stdout is not a terminal: no dashboard, plain output instead"
        case .noTERM: "TERM is not set: no dashboard, plain output instead"
        case .dumbTerminal(let t): "TERM=\(t) cannot move the cursor: no dashboard, plain output instead"
        case .unknownTerminal(let t): "TERM=\(t) is not in the terminfo database: no dashboard, plain output instead"
        case .cannotStart(let why): "cannot start the terminal screen (\(why)): no dashboard, plain output instead"
        }
    }
}

/// The real screen. Used from one thread only (the app loop).
public final class Terminal {
    /// What the terminal can show (unicode from the locale's codeset, colours from has_colors() and NO_COLOR).
    public let capabilities: TermCapabilities
    private let screen: OpaquePointer
    private let window: UnsafeMutablePointer<WINDOW>
    private var renderer: ScreenRenderer
    private var closed = false
    /// Mouse reporting is on (`setMouse`).
    public private(set) var mouseOn = false
    /// Flow control on a slow link: after a frame, a status request (`ESC [ 5 n`) is sent; the terminal answers once it
    /// has taken in everything before it. While an answer is overdue, frames are held (`readyToDraw` is false) and
    /// the next one drawn is the newest state: frames coalesce instead of queueing in the link.
    private var lastCanvas: Canvas?
    private var probeSentAt: Int?
    private var lastProbe = 0
    private var firstProbe: Int?
    /// Answers seen; until the first one, a terminal that never answers is given up on (no more probes).
    private var answers = 0
    private var probing = true
    /// Milliseconds an answer may take before frames are held, between probes, before one frame goes anyway, and
    /// without any answer before probing stops.
    static let probeHold = 60
    static let probeEvery = 100
    static let probeGiveUp = 2_000
    static let probeNever = 10_000

    private init(screen: OpaquePointer, window: UnsafeMutablePointer<WINDOW>, renderer: ScreenRenderer) {
        self.screen = screen
        self.window = window
        self.renderer = renderer
        self.capabilities = renderer.capabilities
    }

    deinit { close() }

    /// Starts curses mode on stdin/stdout, or throws why the dashboard cannot run here (never exits the process).
    public static func open(escapeDelayMilliseconds: Int = 25) throws(TerminalError) -> Terminal {
        if let e = unusable() { throw e }
        let term = try checkTERM(environment("TERM"))
        setlocale(LC_ALL, "")
        let delay = Int32(clamping: max(0, escapeDelayMilliseconds))
        _ = set_escdelay(delay)
        guard let screen = newterm(nil, ppterm_stdout(), ppterm_stdin()) else { throw .unknownTerminal(term) }
        guard ppterm_has_cup() != 0 else {
            endwin()
            delscreen(screen)
            throw .dumbTerminal(term)
        }
        guard let window = ppterm_stdscr() else {
            endwin()
            delscreen(screen)
            throw .cannotStart("no standard screen")
        }
        _ = set_escdelay(delay)
        cbreak()
        noecho()
        nonl()
        keypad(window, true)
        _ = curs_set(0)
        // The cursor is hidden: leave it where the last change was, not sent back to a corner after each frame.
        leaveok(window, true)
        let (colors, defaultColors) = startColors(wanted: colorsWanted(noColor: environment("NO_COLOR")))
        let caps = TermCapabilities(unicode: ppterm_locale_is_utf8() != 0, colors: colors)
        return Terminal(screen: screen, window: window, renderer: ScreenRenderer(capabilities: caps, defaultColors: defaultColors))
    }

    /// The screen size now (updated by ncurses on resize).
    public var size: (rows: Int, cols: Int) {
        closed ? (0, 0) : (Int(getmaxy(window)), Int(getmaxx(window)))
    }

    /// erase() + copy the canvas + refresh(): ncurses sends only the difference. Draws what fits.
    public func draw(_ canvas: Canvas) {
        guard !closed else { return }
        // The same frame again sends nothing: no copy into curses, and no status request after it.
        if canvas == lastCanvas && Int(getmaxy(window)) == canvas.rows && Int(getmaxx(window)) == canvas.cols { return }
        lastCanvas = canvas
        renderer.draw(canvas, into: window)
        wrefresh(window)
        probe()
    }

    /// Whether a frame may be sent now: false while the terminal has not yet taken in the frames before (its answer
    /// to the last status request is overdue); the caller keeps the state and draws when this turns true.
    public var readyToDraw: Bool {
        guard !closed, let sent = probeSentAt else { return true }
        let waited = monotonicMilliseconds() - sent
        if waited < Terminal.probeHold { return true }
        if waited < Terminal.probeGiveUp { return false }
        // Overdue: one frame goes now (a probe follows it), so a terminal that is only slow still sees the state
        // every `probeGiveUp` ms; one that has never answered for `probeNever` ms is not asked again.
        probeSentAt = nil
        if answers == 0, let first = firstProbe, monotonicMilliseconds() - first >= Terminal.probeNever { probing = false }
        return true
    }

    /// Sends a status request after a frame, at most every `probeEvery` ms and one at a time.
    private func probe() {
        guard probing, probeSentAt == nil else { return }
        let now = monotonicMilliseconds()
        guard now - lastProbe >= Terminal.probeEvery else { return }
        lastProbe = now
        probeSentAt = now
        if firstProbe == nil { firstProbe = now }
        ppterm_write_raw("\u{1B}[5n")
    }

    /// Waits up to `timeoutMilliseconds` for a key; nil on timeout. Never busy-loops, even if the tty is gone.
    public func readKey(timeoutMilliseconds: Int) -> Key? {
        let timeout = max(0, timeoutMilliseconds)
        guard !closed else {
            sleepMilliseconds(timeout)
            return nil
        }
        let start = monotonicMilliseconds()
        var remaining = timeout
        while true {
            wtimeout(window, Int32(clamping: remaining))
            var code: UInt32 = 0
            let status = ppterm_get_wch(window, &code)
            if status == KEY_CODE_YES, Int32(bitPattern: code) == KEY_MOUSE {
                if let event = readMouse() { return .mouse(event) }
            } else if status == OK, code == 0x1B, let report = readReport() {
                switch report {
                case .mouse(let event): return .mouse(event)
                case .ignored: break  // a report of nothing we use (motion)
                case .ready:
                    // The terminal caught up: return, so a held frame is drawn now.
                    probeSentAt = nil
                    answers += 1
                    probing = true  // an answer after a give-up: the terminal does answer, only slowly
                    return nil
                }
            } else if status != ERR, let key = Terminal.decode(status: status, code: code) {
                return key
            }
            remaining = timeout - (monotonicMilliseconds() - start)
            if remaining <= 0 { return nil }
            if status == ERR {
                // ERR before the timeout: input is broken (EOF, EIO after hangup). Wait out the rest instead of spinning.
                sleepMilliseconds(remaining)
                return nil
            }
            // An unknown key: keep waiting for the rest of the time.
        }
    }

    /// Leaves curses mode temporarily (endwin), e.g. for Ctrl-Z; the terminal's mouse reporting goes off meanwhile.
    public func suspend() {
        guard !closed else { return }
        if mouseOn { ppterm_write_raw(Terminal.mouseOff) }
        endwin()
    }

    /// Comes back from `suspend()` and forces a full repaint.
    public func resume() {
        guard !closed else { return }
        if let cur = ppterm_curscr() { clearok(cur, true) }
        wrefresh(window)
        if mouseOn { ppterm_write_raw(Terminal.mouseOn) }
    }

    /// xterm's button reporting (1000) in SGR form (1006), and back off.
    static let mouseOn = "\u{1B}[?1000h\u{1B}[?1006h"
    static let mouseOff = "\u{1B}[?1006l\u{1B}[?1000l"

    /// Turns mouse reporting on or off: clicks and the wheel come as `.mouse` keys; off, the terminal's own
    /// selection works again.
    public func setMouse(_ on: Bool) {
        guard !closed, on != mouseOn else { return }
        mouseOn = on
        ppterm_mouse(on ? 1 : 0)
        ppterm_write_raw(on ? Terminal.mouseOn : Terminal.mouseOff)
    }

    /// Sends bytes the screen model does not see (an OSC 52 clipboard string) after what ncurses has drawn.
    public func writeRaw(_ text: String) {
        guard !closed else { return }
        ppterm_write_raw(text)
    }

    /// The event behind ncurses' KEY_MOUSE (terminfo's kmous is SGR's `ESC [ <`).
    private func readMouse() -> MouseEvent? {
        var kind: Int32 = 0
        var row: Int32 = 0
        var col: Int32 = 0
        guard ppterm_getmouse(&kind, &row, &col) == OK else { return nil }
        let k: MouseEvent.Kind
        switch kind {
        case 1, 2, 3: k = .press(Int(kind))
        case 4: k = .release
        case 5: k = .wheelUp
        case 6: k = .wheelDown
        default: return nil
        }
        return MouseEvent(k, row: Int(row), col: Int(col))
    }

    /// What the terminal reported by itself.
    enum Report {
        case mouse(MouseEvent)
        /// A mouse report of nothing we use (motion, other buttons).
        case ignored
        /// `ESC [ 0 n`: the answer to a status request.
        case ready
    }

    /// After an Esc: an SGR mouse report ncurses did not decode (terminfo names another form, e.g. tmux's `ESC [ M`)
    /// or a status answer, read from what is already typed; anything else is pushed back, so Esc and Alt keys work.
    private func readReport() -> Report? {
        var taken: [UInt32] = []
        func next() -> UInt32? {
            wtimeout(window, 0)
            var c: UInt32 = 0
            guard ppterm_get_wch(window, &c) == OK else { return nil }
            taken.append(c)
            return c
        }
        func giveBack() -> Report? {
            for c in taken.reversed() { _ = ppterm_unget(c) }
            return nil
        }
        guard next() == 0x5B else { return giveBack() }  // "["
        let second = next()
        if second == 0x30 {  // "0n"
            return next() == 0x6E ? .ready : giveBack()
        }
        guard second == 0x3C else { return giveBack() }  // "<"
        var body = ""
        while taken.count < 24, let c = next() {
            guard let u = Unicode.Scalar(c), u.isASCII else { return giveBack() }
            body.unicodeScalars.append(u)
            if c == 0x4D || c == 0x6D { return MouseEvent.sgr(body).map { Report.mouse($0) } ?? Report.ignored }  // M, m
        }
        return giveBack()
    }

    /// Leaves curses and restores the terminal; idempotent. After a hangup pass `touchTerminal: false` to stop without writing.
    public func close(touchTerminal: Bool = true) {
        guard !closed else { return }
        closed = true
        guard touchTerminal else { return }  // the SCREEN is leaked on purpose: delscreen may write to the dead tty
        if mouseOn { ppterm_write_raw(Terminal.mouseOff) }
        _ = curs_set(1)
        endwin()
        delscreen(screen)
    }

    /// Why no dashboard can run on stdin/stdout (not terminals; TERM unset, dumb, unknown or without cursor
    /// addressing), found without starting curses or writing anything; nil when `open` may be tried.
    public static func unusable() -> TerminalError? {
        guard isatty(0) == 1, isatty(1) == 1 else { return .notATerminal }
        return cursorProblem(fd: 1)
    }

    /// Whether `fd` is a terminal whose TERM can move the cursor and clear a line (`\r` and `ESC[K` are safe there).
    public static func canRewriteLine(fd: Int32) -> Bool {
        isatty(fd) == 1 && cursorProblem(fd: fd) == nil
    }

    /// What is wrong with TERM for the terminal on `fd`, by terminfo; nil when it can address the cursor.
    static func cursorProblem(fd: Int32) -> TerminalError? {
        let term: String
        do throws(TerminalError) { term = try checkTERM(environment("TERM")) } catch { return error }
        switch ppterm_probe(term, fd) {
        case 1: return nil
        case 0: return .dumbTerminal(term)
        default: return .unknownTerminal(term)
        }
    }

    /// Validates a TERM value before newterm: set, non-empty and not "dumb". Returns it.
    static func checkTERM(_ value: String?) throws(TerminalError) -> String {
        guard let value, !value.isEmpty else { throw .noTERM }
        if value == "dumb" { throw .dumbTerminal(value) }
        return value
    }

    /// Whether colours are wanted given NO_COLOR (https://no-color.org: any non-empty value turns them off).
    static func colorsWanted(noColor: String?) -> Bool {
        noColor?.isEmpty ?? true
    }

    /// Decodes one wget_wch result (OK + a character, or KEY_CODE_YES + a KEY_* code); nil for keys we do not map.
    static func decode(status: Int32, code: UInt32) -> Key? {
        if status == KEY_CODE_YES { return decodeKeyCode(Int32(bitPattern: code)) }
        guard status == OK else { return nil }
        switch code {
        case 0x1B: return .escape
        case 0x0D, 0x0A: return .enter
        case 0x09: return .tab
        case 0x7F, 0x08: return .backspace
        case 0x00: return .ctrl("@")
        case 0x01...0x1A: return .ctrl(Character(Unicode.Scalar(UInt8(0x60 + code))))
        case 0x1C...0x1F: return .ctrl(Character(Unicode.Scalar(UInt8(0x40 + code))))
        default:
            guard let scalar = Unicode.Scalar(code), !(0x80...0x9F).contains(code) else { return nil }
            return .char(Character(scalar))
        }
    }

    private static func decodeKeyCode(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME, KEY_A1: return .home
        case KEY_END, KEY_C1: return .end
        case KEY_ENTER: return .enter
        case KEY_BACKSPACE: return .backspace
        case KEY_DC: return .delete
        case KEY_BTAB: return .backTab
        case KEY_RESIZE: return .resize
        case ppterm_key_f(1)...ppterm_key_f(63): return .function(Int(code - ppterm_key_f(0)))
        default: return nil
        }
    }

    /// start_color (+ use_default_colors) when the terminal has colours and they are wanted: (colors on, default colours usable).
    package static func startColors(wanted: Bool) -> (Bool, Bool) {
        guard wanted, has_colors(), start_color() == OK else { return (false, false) }
        return (true, use_default_colors() == OK)
    }
}

/// The environment variable `name`, or nil when unset.
func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Milliseconds on a monotonic clock.
func monotonicMilliseconds() -> Int { Int(SystemTime.monotonicNanoseconds() / 1_000_000) }

/// Sleeps (poll with no descriptors), so a broken input never turns into a busy loop.
func sleepMilliseconds(_ ms: Int) {
    guard ms > 0 else { return }
    _ = poll(nil, 0, Int32(clamping: ms))
}
