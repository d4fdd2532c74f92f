// Progress bars in the notebook's IntProgress manner: green successes, red failures, the rest empty, with eighth-cell ends.
import PPTerm

/// One progress bar laid out in cells.
public struct Bar: Sendable, Hashable {
    /// What one cell of a bar shows.
    public enum Part: Sendable, Hashable {
        case ok, failed, empty
    }

    /// One drawn cell: its part and glyph.
    public struct Cell: Sendable, Hashable {
        public var part: Part
        public var glyph: Character
    }

    public var cells: [Cell]

    /// Lays out `ok` and `failed` of `total` over `width` cells; failures always get at least one cell, the end of the filled part a partial block (Unicode only).
    public init(ok: Int, failed: Int, total: Int, width: Int, unicode: Bool, colors: Bool) {
        let g = Glyphs.for(unicode: unicode)
        let width = max(0, width)
        let sub = unicode ? 8 : 1  // sub-cells per cell
        let span = width * sub
        guard total > 0, width > 0 else {
            cells = Array(repeating: Cell(part: .empty, glyph: g.barEmpty), count: width)
            return
        }
        let ok = max(0, min(ok, total))
        let failed = max(0, min(failed, total - ok))
        var filled = Int((Double(ok + failed) / Double(total) * Double(span)).rounded(.down))
        if ok + failed > 0, filled == 0 { filled = 1 }  // something happened: show it
        if ok + failed == total { filled = span }
        var failedSub = failed == 0 ? 0 : Int((Double(failed) / Double(total) * Double(span)).rounded())
        if failed > 0 { failedSub = min(filled, max(failedSub, sub)) }  // a failure is never invisible
        if ok == 0 { failedSub = filled }
        let okSub = filled - failedSub
        let failedGlyph = colors ? g.barFull : g.barFailedMono
        var out: [Cell] = []
        out.reserveCapacity(width)
        for i in 0..<width {
            let lo = i * sub
            let hi = lo + sub
            let covered = max(0, min(hi, filled) - lo)
            if covered == 0 {
                out.append(Cell(part: .empty, glyph: g.barEmpty))
                continue
            }
            // The part covering most of this cell colours it.
            let okHere = max(0, min(hi, okSub) - lo)
            let part: Part = okHere * 2 >= covered && okHere > 0 ? .ok : .failed
            if covered == sub {
                out.append(Cell(part: part, glyph: part == .ok ? g.barFull : failedGlyph))
            } else {
                let glyph = part == .failed && !colors ? failedGlyph : g.barPartials[covered - 1]
                out.append(Cell(part: part, glyph: glyph))
            }
        }
        cells = out
    }

    /// The bar as plain text (for tests).
    public var text: String { String(cells.map(\.glyph)) }
}
