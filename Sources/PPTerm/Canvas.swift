// Pure Swift drawing surface: no ncurses here, so the dashboard can be tested without a terminal.
import PPSystem

/// A terminal colour; `.default` is the terminal's own foreground/background.
public enum Color: UInt8, Sendable, Hashable, CaseIterable {
    case `default`, black, red, green, yellow, blue, magenta, cyan, white
}

/// How a cell is drawn: colours and attributes.
public struct Style: Sendable, Hashable {
    public var fg: Color
    public var bg: Color
    public var bold: Bool
    public var dim: Bool
    public var reverse: Bool
    public var underline: Bool

    /// A style; every part defaults to the terminal's plain look.
    public init(
        fg: Color = .default, bg: Color = .default, bold: Bool = false, dim: Bool = false,
        reverse: Bool = false, underline: Bool = false
    ) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    /// Default colours, no attributes.
    public static let plain = Style()
}

/// One screen column: a grapheme and its style ("" marks the right half of a wide character).
public struct Cell: Sendable, Hashable {
    public var text: String
    public var style: Style

    /// A cell holding `text` (one grapheme, or "" for the right half of a wide character).
    public init(text: String, style: Style = .plain) {
        self.text = text
        self.style = style
    }

    /// A plain space.
    public static let blank = Cell(text: " ")
}

/// A grid of cells the dashboard draws into; the terminal layer copies it to ncurses.
public struct Canvas: Sendable, Hashable {
    public let rows: Int
    public let cols: Int
    private var cells: [Cell]

    /// A canvas filled with plain spaces (negative sizes count as 0).
    public init(rows: Int, cols: Int) {
        self.rows = max(0, rows)
        self.cols = max(0, cols)
        cells = Array(repeating: .blank, count: self.rows * self.cols)
    }

    /// The cell at (row, col); reading outside gives a blank, writing outside is ignored (no wide-char repair).
    public subscript(row: Int, col: Int) -> Cell {
        get { contains(row, col) ? cells[row * cols + col] : .blank }
        set { if contains(row, col) { cells[row * cols + col] = newValue } }
    }

    /// Writes text at (row, col), clipped to `width` columns (default: to the right edge) and to the canvas; wide characters take 2 columns (one not fitting is replaced by a space); control characters (incl. tab, newline, ESC) are shown as "·" so task output can never inject escapes. Returns the columns written.
    @discardableResult
    public mutating func put(_ text: String, row: Int, col: Int, style: Style = .plain, width: Int? = nil) -> Int {
        guard row >= 0, row < rows else { return 0 }
        let limit = width.map { min(cols, col + max(0, $0)) } ?? cols
        let start = max(0, col)
        guard start < limit else { return 0 }
        var x = col
        for ch in text {
            if x >= limit { break }
            let w = graphemeWidth(ch)
            if w == 0 { continue }  // a lone combining mark or format character: nothing to show
            if x < 0 {
                // Starts left of the canvas: the visible half of a wide char becomes a space.
                if x + w > 0 { setCell(row, 0, " ", style) }
                x += w
                continue
            }
            if x + w > limit {
                setCell(row, x, " ", style)  // a wide char that does not fit
                x = limit
                break
            }
            setCell(row, x, sanitized(ch), style)
            if w == 2 { setCell(row, x + 1, "", style) }
            x += w
        }
        return max(0, min(x, limit) - start)
    }

    /// Fills a rectangle with `char` (a control or zero-width char becomes a space; a wide char is repeated in pairs).
    public mutating func fill(row: Int, col: Int, width: Int, height: Int = 1, char: Character = " ", style: Style = .plain) {
        guard width > 0, height > 0 else { return }
        let w = graphemeWidth(char)
        let text = (w == 0 || isControl(char)) ? " " : String(char)
        let line = String(repeating: text, count: w == 2 ? width / 2 : width) + (w == 2 && width % 2 == 1 ? " " : "")
        for r in max(0, row)..<min(rows, row + height) {
            put(line, row: r, col: col, style: style, width: width)
        }
    }

    /// Sets the style of existing cells (e.g. highlight a selected row).
    public mutating func restyle(row: Int, col: Int, width: Int, _ change: (inout Style) -> Void) {
        guard row >= 0, row < rows, width > 0 else { return }
        let lo = max(0, col)
        let hi = min(cols, col + width)
        guard lo < hi else { return }
        for c in lo..<hi { change(&cells[row * cols + c].style) }
    }

    /// The plain text of one row (for tests), trailing spaces kept; "" outside the canvas.
    public func line(_ row: Int) -> String {
        guard row >= 0, row < rows else { return "" }
        var s = ""
        for c in 0..<cols { s += cells[row * cols + c].text }
        return s
    }

    /// The plain text of all rows (for tests), trailing spaces kept.
    public var lines: [String] { (0..<rows).map(line) }

    private func contains(_ row: Int, _ col: Int) -> Bool {
        row >= 0 && row < rows && col >= 0 && col < cols
    }

    /// Stores one cell, first blanking the orphaned half of any wide character it overwrites.
    private mutating func setCell(_ row: Int, _ col: Int, _ text: String, _ style: Style) {
        let i = row * cols + col
        if !text.isEmpty, cells[i].text.isEmpty, col > 0 { cells[i - 1].text = " " }
        if col + 1 < cols, cells[i + 1].text.isEmpty, graphemeWidthOfCellText(cells[i].text) == 2 {
            cells[i + 1].text = " "
        }
        cells[i] = Cell(text: text, style: style)
    }

    private func graphemeWidthOfCellText(_ text: String) -> Int {
        text.first.map(graphemeWidth) ?? 0
    }
}

/// The visible stand-in for a control character.
let controlReplacement = "·"

/// `ch` as it may be stored in a cell: control characters replaced; a byte that is not UTF-8 (kept in text as one of
/// ByteText's reserved code points) shown as U+FFFD.
func sanitized(_ ch: Character) -> String {
    if isControl(ch) { return controlReplacement }
    if let s = ch.unicodeScalars.first, s.value >= ByteText.reserved.lowerBound, ByteText.reserved.contains(s.value) {
        return "\u{FFFD}"
    }
    return String(ch)
}
