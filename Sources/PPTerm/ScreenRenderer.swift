// Copies a Canvas into an ncurses window; shared by Terminal and VirtualScreen so both draw the same way.
import CNcurses

/// Draws canvases into one ncurses screen, allocating colour pairs lazily (one per fg/bg, cached).
package struct ScreenRenderer {
    let capabilities: TermCapabilities
    /// Whether the terminal's own colours can be used as -1 (use_default_colors succeeded).
    let defaultColors: Bool
    private var pairs: [UInt16: Int32] = [:]
    private var nextPair: Int32 = 1

    package init(capabilities: TermCapabilities, defaultColors: Bool) {
        self.capabilities = capabilities
        self.defaultColors = defaultColors
    }

    /// erase() + copy the canvas (what fits) into `window`; the caller refreshes.
    package mutating func draw(_ canvas: Canvas, into window: UnsafeMutablePointer<WINDOW>) {
        werase(window)
        let rows = min(canvas.rows, Int(getmaxy(window)))
        let cols = min(canvas.cols, Int(getmaxx(window)))
        guard rows > 0, cols > 0 else { return }
        var buffer = [wchar_t](repeating: 0, count: Int(ppterm_ccharw_max()) + 1)
        for r in 0..<rows {
            var c = 0
            while c < cols {
                let cell = canvas[r, c]
                c += 1
                if cell.text.isEmpty { continue }  // right half of a wide char: ncurses fills it
                let text = cellText(cell.text)
                let (attrs, pair) = attributes(for: cell.style)
                if text.utf8.allSatisfy({ $0 < 0x80 }) {
                    // One column, or "??" standing in for a wide char: one cell per character, clipped.
                    var x = c - 1
                    for ch in text where x < cols {
                        _ = put(String(ch), at: r, x, attrs, pair, window, &buffer)
                        x += 1
                    }
                } else if displayWidth(text) == 2 && c >= cols {
                    _ = put(" ", at: r, c - 1, attrs, pair, window, &buffer)  // a wide char cut by the screen edge
                } else if !put(text, at: r, c - 1, attrs, pair, window, &buffer), text.unicodeScalars.count > 1 {
                    // ncurses refused the combination (e.g. a long emoji sequence): keep the base character.
                    _ = put(String(text.unicodeScalars.first!), at: r, c - 1, attrs, pair, window, &buffer)
                }
            }
        }
    }

    /// The text a cell shows on this terminal: sanitized, and ASCII-only when unicode is off.
    private func cellText(_ text: String) -> String {
        guard let ch = text.first else { return " " }
        if ch.isASCII { return isControl(ch) ? "?" : text }
        if isControl(ch) { return capabilities.unicode ? controlReplacement : "?" }
        return capabilities.unicode ? text : asciiFallback(ch)
    }

    private func put(
        _ text: String, at row: Int, _ col: Int, _ attrs: attr_t, _ pair: Int32,
        _ window: UnsafeMutablePointer<WINDOW>, _ buffer: inout [wchar_t]
    ) -> Bool {
        var n = 0
        for s in text.unicodeScalars where n < buffer.count - 1 {
            buffer[n] = wchar_t(bitPattern: s.value)
            n += 1
        }
        buffer[n] = 0
        return ppterm_put_cell(window, Int32(row), Int32(col), buffer, attrs, pair) == OK
    }

    /// ncurses attributes and colour pair for a style; monochrome drops colours but shows a background as reverse.
    private mutating func attributes(for style: Style) -> (attr_t, Int32) {
        var attrs = ppterm_a_normal()
        if style.bold { attrs |= ppterm_a_bold() }
        if style.dim { attrs |= ppterm_a_dim() }
        if style.underline { attrs |= ppterm_a_underline() }
        var reverse = style.reverse
        var pair: Int32 = 0
        if capabilities.colors {
            pair = colorPair(fg: style.fg, bg: style.bg)
        } else if style.bg != .default {
            reverse = true  // a highlighted (coloured-background) span must stay visible without colour
        }
        if reverse { attrs |= ppterm_a_reverse() }
        return (attrs, pair)
    }

    /// The pair for (fg, bg), initialised on first use; 0 (the default pair) when pairs run out.
    private mutating func colorPair(fg: Color, bg: Color) -> Int32 {
        if fg == .default && bg == .default { return 0 }
        let key = UInt16(fg.rawValue) << 8 | UInt16(bg.rawValue)
        if let p = pairs[key] { return p }
        guard nextPair < min(ppterm_color_pairs(), Int32(Int16.max)) else { return 0 }
        let p = nextPair
        guard init_pair(Int16(p), ncursesColor(fg, foreground: true), ncursesColor(bg, foreground: false)) == OK else {
            return 0
        }
        nextPair += 1
        pairs[key] = p
        return p
    }

    private func ncursesColor(_ color: Color, foreground: Bool) -> Int16 {
        if color == .default {
            return defaultColors ? -1 : Int16(foreground ? COLOR_WHITE : COLOR_BLACK)
        }
        return Int16(color.rawValue) - 1  // black = 0 ... white = 7, as COLOR_BLACK ... COLOR_WHITE
    }
}

/// An ASCII stand-in for a non-ASCII grapheme (box drawing, blocks, ellipsis, ...); "?" (or "??" when wide) otherwise.
func asciiFallback(_ ch: Character) -> String {
    guard let s = ch.unicodeScalars.first else { return " " }
    switch s.value {
    case 0x2500, 0x2501, 0x2504, 0x2505, 0x2508, 0x2509, 0x254C, 0x254D, 0x2550, 0x2574, 0x2576, 0x2578, 0x257A:
        return "-"
    case 0x2502, 0x2503, 0x2506, 0x2507, 0x250A, 0x250B, 0x254E, 0x254F, 0x2551, 0x2575, 0x2577, 0x2579, 0x257B:
        return "|"
    case 0x2500...0x257F: return "+"  // corners, tees, crosses
    case 0x2588, 0x2589...0x258F, 0x2590, 0x2593: return "#"  // full / partial blocks
    case 0x2591, 0x2592: return "."  // shades
    case 0x2580...0x259F: return "#"
    case 0x2026: return "~"  // …
    case 0x00B7: return "."  // the control-character stand-in
    case 0x2022, 0x25CF, 0x25CB: return "*"
    case 0x2190: return "<"
    case 0x2192: return ">"
    case 0x2191: return "^"
    case 0x2193: return "v"
    case 0x2713, 0x2714: return "v"
    case 0x2717, 0x2718: return "x"
    case 0x2013, 0x2014, 0x2212: return "-"
    case 0x2018, 0x2019: return "'"
    case 0x201C, 0x201D: return "\""
    case 0x00A0: return " "
    default:
        return graphemeWidth(ch) == 2 ? "??" : "?"
    }
}
