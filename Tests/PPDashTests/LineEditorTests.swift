import Testing

@testable import PPDash

@Suite("Prompt line editor")
struct LineEditorTests {
    func typed(_ s: String) -> LineEditor {
        var e = LineEditor()
        for c in s { e.insert(c) }
        return e
    }

    @Test func insertAndMove() {
        var e = typed("echo {}")
        #expect(e.text == "echo {}")
        #expect(e.cursor == 7)
        e.apply(.left)
        e.apply(.left)
        e.insert("x")
        #expect(e.text == "echo x{}")
        e.apply(.home)
        #expect(e.cursor == 0)
        e.apply(.left)
        #expect(e.cursor == 0)
        e.apply(.end)
        #expect(e.cursor == 8)
        e.apply(.right)
        #expect(e.cursor == 8)
    }

    @Test func deleting() {
        var e = typed("abc")
        e.apply(.deleteBackward)
        #expect(e.text == "ab")
        e.apply(.home)
        e.apply(.deleteBackward)
        #expect(e.text == "ab")
        e.apply(.deleteForward)
        #expect(e.text == "b")
        e.apply(.end)
        e.apply(.deleteForward)
        #expect(e.text == "b")
    }

    @Test func killsAndWords() {
        var e = typed("sleep 1 ::: a b")
        e.apply(.deleteWord)
        #expect(e.text == "sleep 1 ::: a ")
        e.apply(.wordLeft)
        e.apply(.wordLeft)
        #expect(e.cursor == 8)
        e.apply(.wordLeft)
        #expect(e.cursor == 6)
        e.apply(.killToEnd)
        #expect(e.text == "sleep ")
        e.apply(.killToStart)
        #expect(e.text == "")
        #expect(e.cursor == 0)
    }

    @Test func ctrlUFromTheMiddle() {
        var e = typed("hello world")
        for _ in 0..<5 { e.apply(.left) }
        e.apply(.killToStart)
        #expect(e.text == "world")
        #expect(e.cursor == 0)
    }

    @Test func unicodeGraphemes() {
        var e = typed("é🇫🇷x")
        #expect(e.chars.count == 3)
        e.apply(.left)
        e.apply(.deleteBackward)
        #expect(e.text == "éx")
    }

    @Test func historyWalksAndKeepsTheDraft() {
        var e = LineEditor(history: ["first ::: 1", "second ::: 2"])
        e.insert("d")
        e.insert("r")
        e.apply(.historyPrevious)
        #expect(e.text == "second ::: 2")
        e.apply(.historyPrevious)
        #expect(e.text == "first ::: 1")
        let movedPastOldest = e.apply(.historyPrevious)
        #expect(!movedPastOldest)
        e.apply(.historyNext)
        e.apply(.historyNext)
        #expect(e.text == "dr")
        let movedPastDraft = e.apply(.historyNext)
        #expect(!movedPastDraft)
    }

    @Test func commitSkipsBlanksAndRepeats() {
        var e = LineEditor()
        for line in ["a ::: 1", "a ::: 1", "   ", "b ::: 2"] {
            e.clear()
            for c in line { e.insert(c) }
            e.commit()
        }
        #expect(e.history == ["a ::: 1", "b ::: 2"])
        #expect(e.text == "")
    }

    @Test func visibleWindowKeepsTheCursorInView() {
        let e = typed("0123456789abcdef")
        let (text, col) = e.visible(width: 8) { _ in 1 }
        #expect(text == "9abcdef")
        #expect(col == 7)
        var h = e
        h.apply(.home)
        let (t2, c2) = h.visible(width: 8) { _ in 1 }
        #expect(t2 == "01234567")
        #expect(c2 == 0)
    }
}
