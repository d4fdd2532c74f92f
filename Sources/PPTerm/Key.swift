// Keys and terminal capabilities: pure types shared with the dashboard.

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
