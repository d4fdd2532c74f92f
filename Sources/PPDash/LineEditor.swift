// The prompt's line editor: a cursor over grapheme clusters, readline-style keys, and a history.

/// An editing operation, bound to keys in the key map.
public enum EditAction: Sendable, Hashable {
    case left, right, home, end
    case deleteBackward, deleteForward
    /// Ctrl-U: deletes from the start of the line to the cursor.
    case killToStart
    /// Ctrl-K: deletes from the cursor to the end of the line.
    case killToEnd
    /// Ctrl-W: deletes the word before the cursor.
    case deleteWord
    case wordLeft, wordRight
    case historyPrevious, historyNext
}

/// A single-line editor with history, as a value so the UI state stays a value.
public struct LineEditor: Sendable, Hashable {
    /// The text, one element per grapheme cluster.
    public private(set) var chars: [Character] = []
    /// Insertion point, 0...chars.count.
    public private(set) var cursor = 0
    /// Earlier lines, oldest first.
    public private(set) var history: [String]
    /// Position while walking the history (`history.count` = the line being typed).
    private var historyIndex: Int
    /// The line being typed, kept while walking the history.
    private var draft: [Character] = []
    /// How many history lines are kept.
    public static let historyLimit = 100

    public init(text: String = "", history: [String] = []) {
        chars = Array(text)
        cursor = chars.count
        self.history = history
        historyIndex = history.count
    }

    public var text: String { String(chars) }

    /// Inserts characters at the cursor (a pasted run arrives one by one).
    public mutating func insert(_ ch: Character) {
        chars.insert(ch, at: cursor)
        cursor += 1
    }

    /// Applies one editing operation; returns whether the text or cursor changed.
    @discardableResult
    public mutating func apply(_ action: EditAction) -> Bool {
        let before = (chars, cursor)
        switch action {
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(chars.count, cursor + 1)
        case .home: cursor = 0
        case .end: cursor = chars.count
        case .deleteBackward:
            if cursor > 0 {
                chars.remove(at: cursor - 1)
                cursor -= 1
            }
        case .deleteForward:
            if cursor < chars.count { chars.remove(at: cursor) }
        case .killToStart:
            chars.removeSubrange(0..<cursor)
            cursor = 0
        case .killToEnd:
            chars.removeSubrange(cursor..<chars.count)
        case .deleteWord:
            let start = wordStart(before: cursor)
            chars.removeSubrange(start..<cursor)
            cursor = start
        case .wordLeft: cursor = wordStart(before: cursor)
        case .wordRight: cursor = wordEnd(after: cursor)
        case .historyPrevious:
            guard historyIndex > 0 else { return false }
            if historyIndex == history.count { draft = chars }
            historyIndex -= 1
            chars = Array(history[historyIndex])
            cursor = chars.count
        case .historyNext:
            guard historyIndex < history.count else { return false }
            historyIndex += 1
            chars = historyIndex == history.count ? draft : Array(history[historyIndex])
            cursor = chars.count
        }
        return before.0 != chars || before.1 != cursor
    }

    /// Records the current line in the history (skipping blanks and repeats) and clears the editor.
    public mutating func commit() {
        let line = text
        if !line.trimmingSpaces.isEmpty, history.last != line {
            history.append(line)
            if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
        }
        clear()
    }

    /// Empties the line, keeping the history.
    public mutating func clear() {
        chars = []
        cursor = 0
        draft = []
        historyIndex = history.count
    }

    /// The window of the line to show in `width` columns, keeping the cursor visible: the text and the cursor's column in it.
    public func visible(width: Int, columns: (Character) -> Int) -> (text: String, cursorColumn: Int) {
        guard width > 1 else { return ("", 0) }
        // Start so that the cursor (plus one cell for it) fits.
        var start = 0
        var used = 1
        var i = cursor
        while i > 0 {
            let w = columns(chars[i - 1])
            if used + w > width { break }
            used += w
            i -= 1
        }
        start = i
        var out = ""
        var col = 0
        var cursorColumn = 0
        var j = start
        while j < chars.count {
            if j == cursor { cursorColumn = col }
            let w = columns(chars[j])
            if col + w > width { break }
            out.append(chars[j])
            col += w
            j += 1
        }
        if cursor >= j { cursorColumn = col }
        return (out, cursorColumn)
    }

    private func wordStart(before index: Int) -> Int {
        var i = index
        while i > 0, chars[i - 1].isWhitespace { i -= 1 }
        while i > 0, !chars[i - 1].isWhitespace { i -= 1 }
        return i
    }

    private func wordEnd(after index: Int) -> Int {
        var i = index
        while i < chars.count, chars[i].isWhitespace { i += 1 }
        while i < chars.count, !chars[i].isWhitespace { i += 1 }
        return i
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs (no Foundation needed).
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
