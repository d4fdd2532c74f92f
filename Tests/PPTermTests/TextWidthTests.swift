import Testing
@testable import PPTerm

@Suite struct TextWidthTests {
    @Test(arguments: [
        ("", 0), ("abc", 3), ("日本語", 6), ("한국", 4), ("Ａ", 2), ("ｱ", 1),
        ("😀", 2), ("❤️", 2), ("❤", 1), ("🇫🇷", 2), ("👨‍👩‍👧", 2), ("1️⃣", 2),
        ("e\u{301}", 1), ("\u{301}", 0), ("\u{200B}", 0), ("─│┌┐█░…·", 8), ("a\tb", 3),
    ])
    func widths(text: String, width: Int) {
        #expect(displayWidth(text) == width, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test func truncateKeepsShortText() {
        #expect(truncate("hello", to: 5) == "hello")
        #expect(truncate("日本", to: 4) == "日本")
        #expect(truncate("", to: 0) == "")
    }

    @Test func truncateCutsWithEllipsis() {
        #expect(truncate("hello world", to: 6) == "hello…")
        #expect(truncate("hello world", to: 6, unicode: false) == "hello~")
        #expect(truncate("日本語テキスト", to: 6) == "日本…")
        #expect(truncate("日本語テキスト", to: 5) == "日本…")
        #expect(truncate("日本語テキスト", to: 4) == "日…")
        #expect(truncate("abc", to: 1) == "…")
        #expect(truncate("abc", to: 0) == "")
        #expect(truncate("abc", to: -3) == "")
        for w in 0...12 { #expect(displayWidth(truncate("ab日本語cd😀e", to: w)) <= w) }
    }
}
