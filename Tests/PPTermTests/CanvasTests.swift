import Testing
@testable import PPTerm

@Suite struct CanvasTests {
    @Test func newCanvasIsBlank() {
        let c = Canvas(rows: 2, cols: 3)
        #expect(c.lines == ["   ", "   "])
        #expect(c[0, 0] == Cell(text: " "))
        #expect(Canvas(rows: -1, cols: 5).lines.isEmpty)
    }

    @Test func putWritesAndReturnsColumns() {
        var c = Canvas(rows: 1, cols: 10)
        let style = Style(fg: .red, bold: true)
        #expect(c.put("hello", row: 0, col: 2, style: style) == 5)
        #expect(c.line(0) == "  hello   ")
        #expect(c[0, 2].style == style)
        #expect(c[0, 1].style == .plain)
    }

    @Test func putClipsToEdgeWidthAndCanvas() {
        var c = Canvas(rows: 2, cols: 6)
        #expect(c.put("abcdefgh", row: 0, col: 3) == 3)
        #expect(c.line(0) == "   abc")
        #expect(c.put("xyz123", row: 1, col: 1, width: 2) == 2)
        #expect(c.line(1) == " xy   ")
        #expect(c.put("abc", row: 2, col: 0) == 0)
        #expect(c.put("abc", row: -1, col: 0) == 0)
        #expect(c.put("abc", row: 0, col: 6) == 0)
        #expect(c.put("abc", row: 0, col: 0, width: 0) == 0)
        #expect(c.line(0) == "   abc")
    }

    @Test func putWithNegativeColumnShowsTheVisiblePart() {
        var c = Canvas(rows: 1, cols: 5)
        #expect(c.put("abcdef", row: 0, col: -2) == 4)
        #expect(c.line(0) == "cdef ")
    }

    @Test func wideCharactersTakeTwoColumns() {
        var c = Canvas(rows: 1, cols: 8)
        #expect(c.put("日本x", row: 0, col: 1) == 5)
        #expect(c[0, 1].text == "日")
        #expect(c[0, 2].text == "")
        #expect(c[0, 3].text == "本")
        #expect(c[0, 4].text == "")
        #expect(c[0, 5].text == "x")
        #expect(c.line(0) == " 日本x  ")
        #expect(displayWidth(c.line(0)) == 8)
    }

    @Test func wideCharacterNotFittingBecomesSpace() {
        var c = Canvas(rows: 1, cols: 5)
        c.fill(row: 0, col: 0, width: 5, char: "-")
        #expect(c.put("ab日", row: 0, col: 2) == 3)
        #expect(c.line(0) == "--ab ")
        var d = Canvas(rows: 1, cols: 6)
        #expect(d.put("日本語", row: 0, col: 0, width: 3) == 3)
        #expect(d.line(0) == "日    ")
        var e = Canvas(rows: 1, cols: 4)
        #expect(e.put("日本", row: 0, col: -1) == 3)
        #expect(e.line(0) == " 本 ")
    }

    @Test func overwritingHalfAWideCharacterRepairsTheOtherHalf() {
        var c = Canvas(rows: 1, cols: 6)
        c.put("日本", row: 0, col: 0)
        c.put("x", row: 0, col: 1)  // right half of 日
        #expect(c.line(0) == " x本  ")
        c.put("y", row: 0, col: 2)  // left half of 本
        #expect(c.line(0) == " xy   ")
        #expect(c.lines.allSatisfy { displayWidth($0) == 6 })
        c.put("語", row: 0, col: 2)
        c.put("語", row: 0, col: 3)
        #expect(c.line(0) == " x 語 ")
    }

    @Test func controlCharactersAreMadeVisible() {
        var c = Canvas(rows: 1, cols: 20)
        let n = c.put("a\tb\nc\u{1B}[31md\r\ne\u{7F}\u{9B}", row: 0, col: 0)
        #expect(c.line(0) == "a·b·c·[31md·e··     ")
        #expect(n == 15)
        #expect(!c.line(0).unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        var d = Canvas(rows: 1, cols: 6)
        d.put("a\u{202E}b\u{2028}c", row: 0, col: 0)
        #expect(d.line(0) == "a·b·c ")
    }

    @Test func combiningMarksStayWithTheirBase() {
        var c = Canvas(rows: 1, cols: 4)
        #expect(c.put("e\u{301}x", row: 0, col: 0) == 2)
        #expect(c[0, 0].text == "e\u{301}")
        #expect(c.put("\u{301}z", row: 0, col: 3) == 1)  // a lone mark has nothing to show
        #expect(c[0, 3].text == "z")
    }

    @Test func fillCoversARectangle() {
        var c = Canvas(rows: 3, cols: 5)
        c.fill(row: 1, col: 1, width: 3, height: 5, char: "#", style: Style(reverse: true))
        #expect(c.lines == ["     ", " ### ", " ### "])
        #expect(c[2, 3].style.reverse)
        c.fill(row: 0, col: 0, width: 5, char: "日")
        #expect(c.line(0) == "日日 ")
        c.fill(row: 0, col: 0, width: 2, char: "\t")
        #expect(c.line(0) == "  日 ")
    }

    @Test func restyleChangesOnlyStyle() {
        var c = Canvas(rows: 2, cols: 4)
        c.put("abcd", row: 1, col: 0, style: Style(fg: .green))
        c.restyle(row: 1, col: -1, width: 3) { $0.reverse = true }
        #expect(c.line(1) == "abcd")
        #expect(c[1, 0].style == Style(fg: .green, reverse: true))
        #expect(c[1, 1].style.reverse)
        #expect(!c[1, 2].style.reverse)
        #expect(c[1, 2].style.fg == .green)
        c.restyle(row: 5, col: 0, width: 4) { $0.bold = true }
        #expect(!c[0, 0].style.bold)
    }

    @Test func subscriptOutsideIsSafe() {
        var c = Canvas(rows: 1, cols: 1)
        c[3, 3] = Cell(text: "x")
        #expect(c[3, 3] == .blank)
        c[0, 0] = Cell(text: "y", style: Style(bold: true))
        #expect(c[0, 0].text == "y")
        #expect(c.line(4) == "")
    }

    @Test func canvasesCompareByContent() {
        var a = Canvas(rows: 1, cols: 3)
        var b = Canvas(rows: 1, cols: 3)
        #expect(a == b)
        a.put("x", row: 0, col: 0)
        #expect(a != b)
        b.put("x", row: 0, col: 0)
        #expect(a == b)
    }
}
