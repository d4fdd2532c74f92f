// Column widths of text, as a terminal shows it (wcwidth semantics, computed per grapheme, no locale needed).

import Algorithms

/// Terminal columns taken by `s` (wcwidth semantics for East Asian wide / emoji = 2, combining = 0); control characters count 1, as Canvas shows them as "·".
public func displayWidth(_ s: String) -> Int {
    var total = 0
    for ch in s { total += graphemeWidth(ch) }
    return total
}

/// `s` cut to at most `width` columns, ending in "…" (or "~" when `unicode` is false) when cut.
public func truncate(_ s: String, to width: Int, unicode: Bool = true) -> String {
    guard width > 0 else { return "" }
    if displayWidth(s) <= width { return s }
    var out = ""
    var used = 0
    for ch in s {
        let w = graphemeWidth(ch)
        if used + w > width - 1 { break }
        out.append(ch)
        used += w
    }
    return out + (unicode ? "…" : "~")
}

/// Columns one grapheme takes: 0, 1 or 2.
func graphemeWidth(_ ch: Character) -> Int {
    if ch.isASCII { return 1 }  // printable ASCII, or a control character shown as one replacement column
    let scalars = ch.unicodeScalars
    guard let first = scalars.first else { return 0 }
    if isControlScalar(first) { return 1 }
    if scalars.count > 1 {
        if first.properties.isEmoji, scalars.contains("\u{FE0F}") { return 2 }  // emoji presentation selector
        if isRegionalIndicator(first) { return 2 }  // a flag
    }
    return scalarWidth(first)
}

/// Whether `ch` holds something that must never reach the terminal raw (C0/C1 controls, DEL, line separators, bidi overrides).
func isControl(_ ch: Character) -> Bool {
    ch.unicodeScalars.contains(where: isControlScalar)
}

private func isControlScalar(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x00...0x1F, 0x7F...0x9F: return true
    case 0x2028, 0x2029: return true  // line / paragraph separator
    case 0x202A...0x202E, 0x2066...0x2069: return true  // bidi embeddings, overrides, isolates
    default: return false
    }
}

private func isRegionalIndicator(_ s: Unicode.Scalar) -> Bool {
    (0x1F1E6...0x1F1FF).contains(s.value)
}

/// wcwidth of one scalar (controls excluded by the caller).
private func scalarWidth(_ s: Unicode.Scalar) -> Int {
    let v = s.value
    if v < 0x300 { return 1 }
    if v == 0x00AD { return 1 }
    switch s.properties.generalCategory {
    case .nonspacingMark, .enclosingMark, .format: return 0
    default: break
    }
    if (0x1160...0x11FF).contains(v) || (0xD7B0...0xD7FF).contains(v) { return 0 }  // Hangul medial vowels / finals
    if s.properties.isEmojiPresentation { return 2 }
    return isEastAsianWide(v) ? 2 : 1
}

/// East Asian Wide (W) and Fullwidth (F) ranges, from Unicode's EastAsianWidth.txt (emoji handled separately).
private let wideRanges: [ClosedRange<UInt32>] = [
    0x1100...0x115F, 0x2329...0x232A, 0x2E80...0x2E99, 0x2E9B...0x2EF3, 0x2F00...0x2FD5,
    0x2FF0...0x303E, 0x3041...0x3096, 0x3099...0x30FF, 0x3105...0x312F, 0x3131...0x318E,
    0x3190...0x31E3, 0x31EF...0x321E, 0x3220...0x3247, 0x3250...0x4DBF, 0x4E00...0xA48C,
    0xA490...0xA4C6, 0xA960...0xA97C, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19,
    0xFE30...0xFE52, 0xFE54...0xFE66, 0xFE68...0xFE6B, 0xFF01...0xFF60, 0xFFE0...0xFFE6,
    0x16FE0...0x16FE4, 0x16FF0...0x16FF1, 0x17000...0x187F7, 0x18800...0x18CD5, 0x18D00...0x18D08,
    0x1AFF0...0x1AFFE, 0x1B000...0x1B122, 0x1B132...0x1B132, 0x1B150...0x1B152, 0x1B155...0x1B155,
    0x1B164...0x1B167, 0x1B170...0x1B2FB, 0x1F200...0x1F202, 0x1F210...0x1F23B, 0x1F240...0x1F248,
    0x1F250...0x1F251, 0x1F260...0x1F265, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
]

private func isEastAsianWide(_ v: UInt32) -> Bool {
    if v < 0x1100 { return false }
    let k = wideRanges.partitioningIndex { $0.upperBound >= v }
    return k < wideRanges.count && wideRanges[k].contains(v)
}
