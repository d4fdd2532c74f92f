import Testing
@testable import PPTerm
import PPTestSupport

/// Every test that starts ncurses lives here: its state is global, so this suite is serialized.
@Suite(.serialized) struct VirtualScreenTests {
    /// A boxed panel with CJK text, sized to fill the canvas.
    static func sample(rows: Int, cols: Int) -> Canvas {
        var c = Canvas(rows: rows, cols: cols)
        c.put("┌" + String(repeating: "─", count: cols - 2) + "┐", row: 0, col: 0)
        for r in 1..<(rows - 1) {
            c.put("│", row: r, col: 0)
            c.put("│", row: r, col: cols - 1)
        }
        c.put("└" + String(repeating: "─", count: cols - 2) + "┘", row: rows - 1, col: 0)
        c.put(" 任务 build: 日本語テキスト ✓ ", row: 0, col: 2, style: Style(fg: .cyan, bold: true))
        c.put("task-1 █████░░░░░ 50%", row: 2, col: 2, style: Style(fg: .green))
        c.put("selected row", row: 3, col: 1, style: Style(bg: .blue))
        c.restyle(row: 3, col: 1, width: cols - 2) { $0.reverse = true }
        c.put("end", row: rows - 1, col: cols - 3)  // touches the bottom-right cell
        return c
    }

    @Test(arguments: [(24, 80), (60, 200)])
    func drawsAndReadsBack(rows: Int, cols: Int) throws {
        let screen = try VirtualScreen(rows: rows, cols: cols)
        defer { screen.close() }
        #expect(screen.size == (rows, cols))
        let canvas = Self.sample(rows: rows, cols: cols)
        screen.draw(canvas)
        #expect(screen.rows() == canvas.lines)
        #expect(screen.attributes(row: 0, col: 3).bold)
        #expect(screen.attributes(row: 0, col: 3).colorPair != 0)
        #expect(screen.attributes(row: 3, col: 2).reverse)
        #expect(screen.attributes(row: 1, col: 1) == (false, false, 0))
    }

    @Test func sameColoursShareAPair() throws {
        let screen = try VirtualScreen(rows: 5, cols: 20)
        defer { screen.close() }
        var c = Canvas(rows: 5, cols: 20)
        c.put("a", row: 0, col: 0, style: Style(fg: .red))
        c.put("b", row: 1, col: 0, style: Style(fg: .red, bold: true))
        c.put("c", row: 2, col: 0, style: Style(fg: .green))
        screen.draw(c)
        let a = screen.attributes(row: 0, col: 0).colorPair
        #expect(a != 0)
        #expect(screen.attributes(row: 1, col: 0).colorPair == a)
        #expect(screen.attributes(row: 2, col: 0).colorPair != a)
        #expect(screen.attributes(row: 2, col: 0).colorPair != 0)
    }

    @Test func redrawReplacesOldContent() throws {
        let screen = try VirtualScreen(rows: 3, cols: 10)
        defer { screen.close() }
        var c = Canvas(rows: 3, cols: 10)
        c.put("long line!", row: 0, col: 0)
        screen.draw(c)
        var d = Canvas(rows: 3, cols: 10)
        d.put("short", row: 0, col: 0)
        screen.draw(d)
        #expect(screen.rows() == d.lines)
    }

    @Test func resizeAndDrawWhatFits() throws {
        let screen = try VirtualScreen(rows: 24, cols: 80)
        defer { screen.close() }
        let canvas = Self.sample(rows: 24, cols: 80)
        screen.resize(rows: 30, cols: 100)
        #expect(screen.size == (30, 100))
        screen.draw(canvas)
        let bigger = screen.rows()
        #expect(bigger.count == 30)
        for r in 0..<24 { #expect(bigger[r] == canvas.line(r) + String(repeating: " ", count: 20)) }
        #expect(bigger[29] == String(repeating: " ", count: 100))

        screen.resize(rows: 10, cols: 40)
        #expect(screen.size == (10, 40))
        screen.draw(canvas)
        let smaller = screen.rows()
        #expect(smaller.count == 10)
        for r in 0..<10 { #expect(smaller[r] == (0..<40).map { canvas[r, $0].text }.joined()) }
        #expect(smaller.allSatisfy { displayWidth($0) == 40 })
    }

    @Test func wideCharacterCutByScreenEdge() throws {
        let screen = try VirtualScreen(rows: 2, cols: 5)
        defer { screen.close() }
        var c = Canvas(rows: 2, cols: 6)
        c.put("abcd日", row: 0, col: 0)
        screen.draw(c)
        #expect(screen.rows() == ["abcd ", "     "])
    }

    @Test func monochromeKeepsTextAndDropsColour() throws {
        let screen = try VirtualScreen(rows: 24, cols: 80, colors: false)
        defer { screen.close() }
        let canvas = Self.sample(rows: 24, cols: 80)
        screen.draw(canvas)
        #expect(screen.rows() == canvas.lines)
        for r in 0..<24 {
            for col in 0..<80 { #expect(screen.attributes(row: r, col: col).colorPair == 0) }
        }
        #expect(screen.attributes(row: 0, col: 3).bold)
        #expect(screen.attributes(row: 3, col: 2).reverse)
        var c = Canvas(rows: 1, cols: 10)
        c.put("hi", row: 0, col: 0, style: Style(bg: .blue))
        screen.draw(c)
        #expect(screen.attributes(row: 0, col: 0).reverse)  // a background highlight stays visible
    }

    @Test func asciiModeReplacesNonASCII() throws {
        let screen = try VirtualScreen(rows: 3, cols: 12, unicode: false)
        defer { screen.close() }
        var c = Canvas(rows: 3, cols: 12)
        c.put("┌──┐ 日本…", row: 0, col: 0)
        c.put("█░ é\u{1B}x", row: 1, col: 0)
        c[2, 11] = Cell(text: "日")  // a wide char in the last column: its stand-in is clipped
        screen.draw(c)
        #expect(screen.rows() == ["+--+ ????~  ", "#. ?.x      ", "           ?"])
    }
}
