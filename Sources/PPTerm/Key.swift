// Keys and terminal capabilities: pure types shared with the dashboard.
import PPJSON

/// A key press, decoded.
public enum Key: Hashable, Sendable {
    /// A printable character.
    case char(Character)
    /// A control key, lowercase: `.ctrl("c")` for 0x03.
    case ctrl(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, backspace, delete, tab, backTab
    /// F1 is `.function(1)`.
    case function(Int)
    /// The terminal changed size; read `Terminal.size` again.
    case resize
    /// A mouse click or wheel turn (xterm SGR reporting, when the mouse is on).
    case mouse(MouseEvent)
}

/// A mouse event at a screen cell (0-based row and column).
public struct MouseEvent: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Button 1 (left), 2 (middle) or 3 (right) pressed.
        case press(Int)
        case release
        case wheelUp, wheelDown
    }
    public var kind: Kind
    public var row: Int
    public var col: Int

    public init(_ kind: Kind, row: Int, col: Int) {
        self.kind = kind
        self.row = row
        self.col = col
    }

    /// Decodes the body of an xterm SGR mouse report, what follows `ESC [ <`: `Cb;Cx;Cy` and `M` (press) or `m`
    /// (release), coordinates 1-based. Nil for anything else (motion, unknown buttons, malformed or absurd numbers).
    public static func sgr(_ body: String) -> MouseEvent? {
        guard let final = body.last, final == "M" || final == "m" else { return nil }
        let parts = body.dropLast().split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.count <= 5 && $0.allSatisfy(\.isASCII) }),
            let b = Int(parts[0]), let x = Int(parts[1]), let y = Int(parts[2]), x >= 1, y >= 1, b >= 0
        else { return nil }
        if b & 32 != 0 { return nil }  // motion: not reported as a click
        let button = b & ~(4 | 8 | 16)  // shift, meta, control held: the same click
        let kind: Kind
        switch button {
        case 0, 1, 2: kind = final == "m" ? .release : .press(button + 1)
        case 64: kind = .wheelUp
        case 65: kind = .wheelDown
        default: return nil
        }
        return MouseEvent(kind, row: y - 1, col: x - 1)
    }
}

/// OSC 52: what sets the terminal's clipboard (through ssh and tmux with `set-clipboard on`) to `bytes`.
public func osc52(_ bytes: [UInt8]) -> String {
    "\u{1B}]52;c;" + Base64.encode(bytes) + "\u{07}"
}

/// What the terminal can show.
public struct TermCapabilities: Sendable, Hashable {
    /// UTF-8 output works (else draw ASCII only).
    public var unicode: Bool
    /// Colours are available and wanted (NO_COLOR unset).
    public var colors: Bool

    /// Capabilities as given.
    public init(unicode: Bool, colors: Bool) {
        self.unicode = unicode
        self.colors = colors
    }
}
