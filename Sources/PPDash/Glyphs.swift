// The characters the dashboard draws with: Unicode where the terminal takes UTF-8, plain ASCII otherwise.

/// One set of drawing characters; `Glyphs.for(unicode:)` picks the set.
struct Glyphs: Sendable {
    let unicode: Bool
    /// Horizontal rule.
    let hline: Character
    /// Vertical rule (pane separator).
    let vline: Character
    let topLeft: Character
    let topRight: Character
    let bottomLeft: Character
    let bottomRight: Character
    /// Rule meeting a vertical rule from below / above.
    let teeDown: Character
    let teeUp: Character
    /// A full bar cell.
    let barFull: Character
    /// Partial bar cells for 1/8 ... 7/8 (empty in ASCII: whole cells only).
    let barPartials: [Character]
    /// An empty bar cell.
    let barEmpty: Character
    /// A failed bar cell when colours cannot tell it apart.
    let barFailedMono: Character
    /// Bar ends.
    let barLeft: String
    let barRight: String
    /// Sparkline levels, lowest first (8 of them).
    let spark: [Character]
    let sortAscending: String
    let sortDescending: String
    /// Marks the focused pane's title.
    let focusMark: String
    /// Separates header fields.
    let separator: String
    let ellipsis: String
    let cross: String
    let check: String

    static let utf8 = Glyphs(
        unicode: true, hline: "─", vline: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘",
        teeDown: "┬", teeUp: "┴", barFull: "█", barPartials: ["▏", "▎", "▍", "▌", "▋", "▊", "▉"], barEmpty: " ",
        barFailedMono: "▒", barLeft: "▕", barRight: "▏", spark: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
        sortAscending: "▲", sortDescending: "▼", focusMark: "▶", separator: " │ ", ellipsis: "…", cross: "✗",
        check: "✓")

    static let ascii = Glyphs(
        unicode: false, hline: "-", vline: "|", topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+",
        teeDown: "+", teeUp: "+", barFull: "#", barPartials: [], barEmpty: " ", barFailedMono: "x", barLeft: "[",
        barRight: "]", spark: [" ", ".", ":", "-", "=", "+", "*", "#"], sortAscending: "^", sortDescending: "v",
        focusMark: ">", separator: " | ", ellipsis: "~", cross: "x", check: "ok")

    /// The set for a terminal that does (or does not) take UTF-8.
    static func `for`(unicode: Bool) -> Glyphs { unicode ? .utf8 : .ascii }
}
