// ncurses on /dev/null with a fixed size, for tests and the benchmark (never the product: it sets the process
// locale and takes a process-wide gate): draw a Canvas and read back what ncurses holds.
import CNcurses
import Dispatch
import Glibc
import PPTerm

/// One screen at a time in the whole process: ncurses state is global, and test suites in different targets run in
/// parallel in one test process.
private let virtualScreenGate = DispatchSemaphore(value: 1)

/// An off-screen ncurses screen for tests. ncurses state is global: opening one waits until any other is closed.
public final class VirtualScreen {
    private let screen: OpaquePointer
    private let window: UnsafeMutablePointer<WINDOW>
    private let output: UnsafeMutablePointer<FILE>
    private let input: UnsafeMutablePointer<FILE>
    private var renderer: ScreenRenderer
    private var closed = false

    /// Starts ncurses as "xterm-256color" on /dev/null (locale C.UTF-8) and resizes it to rows x cols; `outputPath`
    /// keeps the bytes ncurses sends instead (the benchmark counts them with `bytesWritten`).
    public init(rows: Int, cols: Int, unicode: Bool = true, colors: Bool = true, outputPath: String = "/dev/null")
        throws(TerminalError)
    {
        virtualScreenGate.wait()
        setlocale(LC_ALL, "C.UTF-8")
        guard let output = fopen(outputPath, "w"), let input = fopen("/dev/null", "r") else {
            virtualScreenGate.signal()
            throw .cannotStart("cannot open \(outputPath) and /dev/null")
        }
        var found: OpaquePointer?
        for name in ["xterm-256color", "xterm", "vt100"] where found == nil {
            found = newterm(name, output, input)
        }
        guard let screen = found, let window = ppterm_stdscr() else {
            fclose(output)
            fclose(input)
            virtualScreenGate.signal()
            throw .unknownTerminal("xterm-256color")
        }
        self.screen = screen
        self.window = window
        self.output = output
        self.input = input
        let (colorsOn, defaultColors) = Terminal.startColors(wanted: colors)
        renderer = ScreenRenderer(capabilities: TermCapabilities(unicode: unicode, colors: colorsOn), defaultColors: defaultColors)
        leaveok(window, true)  // as Terminal does
        resize(rows: rows, cols: cols)
    }

    deinit { close() }

    /// Draws a canvas exactly as Terminal does (erase, copy, refresh).
    public func draw(_ canvas: Canvas) {
        guard !closed else { return }
        set_term(screen)
        renderer.draw(canvas, into: window)
        wrefresh(window)
    }

    /// Bytes ncurses has sent to the output so far (all of them reach the file: the stream is flushed first).
    public var bytesWritten: Int {
        guard !closed else { return 0 }
        fflush(output)
        return Int(max(0, lseek(fileno(output), 0, SEEK_CUR)))
    }

    /// Changes the screen size, like a terminal resize.
    public func resize(rows: Int, cols: Int) {
        guard !closed else { return }
        set_term(screen)
        resizeterm(Int32(clamping: max(1, rows)), Int32(clamping: max(1, cols)))
    }

    /// The screen size now.
    public var size: (rows: Int, cols: Int) {
        closed ? (0, 0) : (Int(getmaxy(window)), Int(getmaxx(window)))
    }

    /// What ncurses holds on screen, row by row (a wide character appears once).
    public func rows() -> [String] {
        guard !closed else { return [] }
        set_term(screen)
        let (rows, cols) = size
        var buffer = [wchar_t](repeating: 0, count: cols * Int(ppterm_ccharw_max()) + 1)
        return (0..<rows).map { r in
            let n = mvwinnwstr(window, Int32(r), 0, &buffer, Int32(buffer.count - 1))
            guard n != ERR else { return "" }
            var s = String.UnicodeScalarView()
            for w in buffer.prefix(while: { $0 != 0 }) {
                if let u = Unicode.Scalar(UInt32(bitPattern: w)) { s.append(u) }
            }
            return String(s)
        }
    }

    /// Attributes of one cell: bold, reverse and its colour pair (0 = default colours).
    public func attributes(row: Int, col: Int) -> (bold: Bool, reverse: Bool, colorPair: Int) {
        guard !closed else { return (false, false, 0) }
        set_term(screen)
        var attrs: attr_t = 0
        var pair: Int32 = 0
        guard ppterm_cell_attrs(window, Int32(row), Int32(col), &attrs, &pair) == OK else { return (false, false, 0) }
        return (attrs & ppterm_a_bold() != 0, attrs & ppterm_a_reverse() != 0, Int(pair))
    }

    /// Ends ncurses and frees the screen; idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        set_term(screen)
        endwin()
        delscreen(screen)
        fclose(output)
        fclose(input)
        virtualScreenGate.signal()
    }
}
