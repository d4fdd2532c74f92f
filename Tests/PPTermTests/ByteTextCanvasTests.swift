import Testing

@testable import PPTerm

@Suite("Canvas: text holding bytes that are not UTF-8")
struct ByteTextCanvasTests {
    @Test("ByteText's reserved code points (a stray byte) are drawn as U+FFFD, one column each")
    func reservedShownAsReplacement() {
        var c = Canvas(rows: 1, cols: 10)
        // caf\xE9.txt as ByteText holds it: 0xE9 as U+10FFE9.
        let n = c.put("caf\u{10FFE9}.txt", row: 0, col: 0)
        #expect(n == 8)
        #expect(c.line(0).hasPrefix("caf\u{FFFD}.txt"))
    }
}
