import PPTerm
import Testing

@testable import PPDash

@Suite("Formatting")
struct FormatTests {
    static let durationCases: [(Double, String)] = [
        (0.0, "0ms"), (0.85, "850ms"), (0.9996, "1.0s"), (2.6, "2.6s"), (2.64, "2.6s"), (59.94, "59.9s"),
        (59.96, "1m00s"), (65, "1m05s"), (3599.4, "59m59s"), (3600, "1h00m"), (3 * 3600 + 2 * 60 + 10, "3h02m"),
        (100 * 3600, "4d04h"), (-3, "0ms"),
    ]

    @Test("durations: ms, tenths, minutes, hours, days", arguments: durationCases)
    func durations(seconds: Double, expected: String) {
        #expect(Format.duration(seconds) == expected)
    }

    @Test func noDuration() {
        #expect(Format.duration(nil) == "-")
        #expect(Format.duration(.infinity) == "-")
    }

    static let rateCases: [(Double, String)] = [
        (0.0, "0/s"), (0.05, "3.0/min"), (0.92, "0.9/s"), (9.94, "9.9/s"), (12.4, "12/s"), (1234, "1234/s"),
        (123_456, "123k/s"),
    ]

    @Test("rates", arguments: rateCases)
    func rates(perSecond: Double, expected: String) {
        #expect(Format.rate(perSecond) == expected)
    }

    @Test func percentRoundsDown() {
        #expect(Format.percent(41, of: 100) == "41%")
        #expect(Format.percent(999, of: 1000) == "99%")
        #expect(Format.percent(1000, of: 1000) == "100%")
        #expect(Format.percent(0, of: 0) == "0%")
        #expect(Format.percent(5, of: 3) == "100%")
    }

    @Test func etas() {
        #expect(Format.eta(90) == "ETA 1m30s")
        #expect(Format.eta(nil) == "ETA ?")
        #expect(Format.eta(.nan) == "ETA ?")
    }

    @Test func counts() {
        #expect(Format.count(999) == "999")
        #expect(Format.count(99_999) == "99999")
        #expect(Format.count(123_456) == "123k")
        #expect(Format.count(1_234_567) == "1.2M")
        #expect(Format.count(25_000_000) == "25M")
    }

    @Test func sparklines() {
        #expect(Format.sparkline([0, 0.1, 0.5, 1], width: 4, unicode: true) == "▁▂▅█")
        #expect(Format.sparkline([0, 0.1, 0.5, 1], width: 4, unicode: false) == " .=#")
        // Fewer values than cells: padded on the left with the lowest level; more: the newest kept.
        #expect(Format.sparkline([1], width: 3, unicode: true) == "▁▁█")
        #expect(Format.sparkline([0, 0, 1, 1], width: 2, unicode: true) == "██")
        #expect(Format.sparkline([2, -1, .nan], width: 3, unicode: true) == "█▁▁")
    }

    @Test func truncationOfWideText() {
        let s = "任务日志输出很长"  // 8 wide characters, 16 columns
        let cut = truncate(s, to: 7)
        #expect(displayWidth(cut) <= 7)
        #expect(cut.hasSuffix("…"))
        var canvas = Canvas(rows: 1, cols: 10)
        canvas.cell(s, row: 0, col: 0, width: 7, style: .plain, unicode: true)
        #expect(displayWidth(canvas.line(0).trimmingTrailingSpaces) <= 7)
    }

    @Test func timesWithMillis() {
        let t = t0.adding(seconds: 0.042)
        #expect(Format.time(t, millis: true).hasSuffix(".042"))
        #expect(Format.time(t).count == 8)
        #expect(Format.time(nil) == "-")
    }
}

@Suite("Progress bars")
struct BarTests {
    @Test func partialBlocksAtTheEnd() {
        // 43 of 100 over 10 cells = 4.3 cells = 4 full + 2/8.
        let bar = Bar(ok: 43, failed: 0, total: 100, width: 10, unicode: true, colors: true)
        #expect(bar.text == "████▎     ")
        let half = Bar(ok: 45, failed: 0, total: 100, width: 10, unicode: true, colors: true)
        #expect(half.text == "████▌     ")
    }

    @Test func fullAndEmpty() {
        #expect(Bar(ok: 100, failed: 0, total: 100, width: 8, unicode: true, colors: true).text == "████████")
        #expect(Bar(ok: 0, failed: 0, total: 100, width: 8, unicode: true, colors: true).text == "        ")
        #expect(Bar(ok: 0, failed: 0, total: 0, width: 4, unicode: true, colors: true).text == "    ")
        #expect(Bar(ok: 1, failed: 0, total: 10_000, width: 8, unicode: true, colors: true).text == "▏       ")
    }

    @Test func failuresAreRedAndNeverInvisible() {
        let bar = Bar(ok: 50, failed: 1, total: 1000, width: 20, unicode: true, colors: true)
        #expect(bar.cells.contains { $0.part == .failed })
        let parts = bar.cells.map(\.part)
        // ok first, then failed, then empty: contiguous.
        let firstFailed = parts.firstIndex(of: .failed)!
        #expect(parts[..<firstFailed].allSatisfy { $0 == .ok })
        #expect(parts[firstFailed...].drop(while: { $0 == .failed }).allSatisfy { $0 == .empty })
    }

    @Test func allFailed() {
        let bar = Bar(ok: 0, failed: 10, total: 10, width: 5, unicode: true, colors: true)
        #expect(bar.cells.allSatisfy { $0.part == .failed })
    }

    @Test func asciiAndMonochrome() {
        let a = Bar(ok: 5, failed: 2, total: 10, width: 10, unicode: false, colors: false)
        #expect(a.text == "#####xx   ")
        let m = Bar(ok: 5, failed: 2, total: 10, width: 10, unicode: true, colors: false)
        #expect(m.text == "█████▒▒   ")
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
