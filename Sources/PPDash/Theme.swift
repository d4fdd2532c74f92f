// Every style the dashboard uses, in one place; colours vanish when the terminal has none (or NO_COLOR is set).
import PPKit
import PPTerm

/// The styles of one frame, chosen for the terminal's capabilities.
struct Theme: Sendable {
    let colors: Bool
    /// For a light background: yellow, cyan and white text (unreadable there) become darker colours.
    var light = false

    init(colors: Bool, light: Bool = false) {
        self.colors = colors
        self.light = light
    }

    /// A style with colours dropped when the terminal has none; attributes stay.
    func style(
        _ fg: Color = .default, bg: Color = .default, bold: Bool = false, dim: Bool = false, reverse: Bool = false,
        underline: Bool = false
    ) -> Style {
        colors
            ? Style(fg: light ? Self.onLight(fg, bg: bg) : fg, bg: bg, bold: bold, dim: dim, reverse: reverse, underline: underline)
            : Style(bold: bold, dim: dim, reverse: reverse, underline: underline)
    }

    /// A foreground readable on a light background (text on a coloured background keeps its colour).
    static func onLight(_ fg: Color, bg: Color) -> Color {
        guard bg == .default else { return fg }
        switch fg {
        case .yellow: return .magenta
        case .cyan: return .blue
        case .white: return .black
        default: return fg
        }
    }

    var plain: Style { .plain }
    /// The top line.
    var header: Style { colors ? style(.white, bg: .blue, bold: true) : style(reverse: true) }
    var headerDim: Style { colors ? style(.cyan, bg: .blue) : style(reverse: true) }
    var headerAlert: Style { colors ? style(.white, bg: .red, bold: true) : style(bold: true, reverse: true) }
    var pausedFlag: Style { colors ? style(.black, bg: .yellow, bold: true) : style(bold: true) }
    var frozenFlag: Style { colors ? style(.black, bg: .cyan, bold: true) : style(bold: true) }
    /// Pane titles and rules.
    var rule: Style { style(.blue) }
    var title: Style { style(.cyan, bold: true) }
    var titleFocused: Style { colors ? style(.black, bg: .cyan, bold: true) : style(bold: true, reverse: true) }
    var ruleInfo: Style { style(.default) }
    /// Column headings.
    var columnHeader: Style { colors ? style(.black, bg: .green) : style(bold: true, underline: true) }
    var columnHeaderSorted: Style { colors ? style(.black, bg: .cyan, bold: true) : style(bold: true, underline: true) }
    var dim: Style { style(dim: true) }
    var label: Style { style(.cyan) }
    var value: Style { style(bold: true) }
    var good: Style { style(.green) }
    var bad: Style { style(.red, bold: true) }
    var warn: Style { style(.yellow, bold: true) }
    var spark: Style { style(.cyan) }
    /// Bars.
    var barOK: Style { style(.green) }
    var barFailed: Style { style(.red) }
    var barEmpty: Style { colors ? style(.black, dim: true) : style(dim: true) }
    var barFrame: Style { style(dim: true) }
    /// The bottom line.
    var keyHint: Style { colors ? style(.black, bg: .cyan) : style(reverse: true) }
    var keyHintLabel: Style { .plain }
    var message: Style { style(.green, bold: true) }
    var error: Style { colors ? style(.white, bg: .red, bold: true) : style(bold: true, reverse: true) }
    var prompt: Style { style(.yellow, bold: true) }
    var cursor: Style { style(reverse: true) }
    /// Overlays.
    var overlayBorder: Style { style(.cyan, bold: true) }
    var section: Style { style(.yellow, bold: true) }
    var key: Style { style(.green, bold: true) }

    /// A task row's colour by status: running yellow/bold, ok green, error/timeout red, aborted magenta, pending dim.
    func status(_ status: TaskStatus) -> Style {
        switch status {
        case .pending: style(dim: true)
        case .running: style(.yellow, bold: true)
        case .ok: style(.green)
        case .error, .timeout: style(.red, bold: !colors)
        case .aborted: style(.magenta)
        }
    }

    /// An engine row's state colour.
    func engine(_ state: EngineState) -> Style {
        switch state {
        case .idle: style(dim: false)
        case .busy: style(.yellow, bold: true)
        case .draining: style(.magenta)
        case .dead: style(.red, bold: true)
        }
    }
}
