import PPTerm
import PPTestSupport
import Testing

@testable import PPDash
import PPKit
import PPSource

/// Real frames through ncurses (off-screen): ncurses state is global, so this suite runs serially.
@Suite("Virtual screen", .serialized)
struct VirtualScreenTests {
    func frame(_ snap: Snapshot, rows: Int, cols: Int, caps: TermCapabilities) -> Canvas {
        var ui = UIState()
        ui.viewport = viewport(for: snap, ui, size: Size(rows: rows, cols: cols), capabilities: caps)
        ui.reconcile(with: snap)
        return render(snap, ui, size: Size(rows: rows, cols: cols), capabilities: caps)
    }

    @Test func aFrameReadsBackAsDrawn() throws {
        let screen = try VirtualScreen(rows: 24, cols: 80)
        defer { screen.close() }
        let canvas = frame(Fixture.snapshot(), rows: 24, cols: 80, caps: color)
        screen.draw(canvas)
        let rows = screen.rows()
        #expect(rows.count == 24)
        for (got, want) in zip(rows, canvas.lines) {
            #expect(got.trimmingTrailingSpaces == want.trimmingTrailingSpaces)
        }
        #expect(rows[0].contains("ppdash"))
        #expect(rows.contains { $0.contains("▕") && $0.contains("█") })
        // The selected row (the table's first) is reverse video; the header is coloured.
        let selected = rows.firstIndex { $0.contains("sleep 0.1; echo $((1*1") }!
        #expect(screen.attributes(row: selected, col: 10).reverse)
        #expect(screen.attributes(row: 0, col: 2).colorPair != 0)
    }

    @Test func resizeAndRecover() throws {
        let screen = try VirtualScreen(rows: 24, cols: 80)
        defer { screen.close() }
        screen.resize(rows: 10, cols: 50)
        screen.draw(frame(Fixture.snapshot(), rows: 10, cols: 50, caps: color))
        #expect(screen.rows().filter { !$0.trimmingTrailingSpaces.isEmpty }.count == 1)
        #expect(screen.rows().joined().contains("60x15"))
        screen.resize(rows: 60, cols: 200)
        let big = frame(Fixture.snapshot(engines: 12, batches: 5, rows: 60), rows: 60, cols: 200, caps: color)
        screen.draw(big)
        let rows = screen.rows()
        #expect(rows.count == 60)
        #expect(rows.contains { $0.contains("Submitted") && $0.contains("Completed") })
        #expect(rows[59].trimmingTrailingSpaces == big.lines[59].trimmingTrailingSpaces)
    }

    @Test func asciiMonochromeThroughCurses() throws {
        let screen = try VirtualScreen(rows: 24, cols: 80, unicode: false, colors: false)
        defer { screen.close() }
        let canvas = frame(Fixture.snapshot(dead: true), rows: 24, cols: 80, caps: ascii)
        screen.draw(canvas)
        let text = screen.rows().joined(separator: "\n")
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(screen.attributes(row: 0, col: 2).colorPair == 0)
        #expect(screen.attributes(row: 0, col: 2).reverse)  // the header, in reverse video instead of colour
    }
}
