// Saving settings without losing the user's file: the keys ppdash writes are edited where they stand, line by line;
// every other line (comments, blank lines, other sections, the order) is kept byte for byte.

/// A line-level edit of a TOML file: sets keys of one table, replacing each key's whole value (also one spread over
/// several lines) and keeping a comment after it; missing keys go after the table's last key, a missing table at the
/// end. The caller checks the result parses back to what it meant.
enum TOMLLineEdit {
    struct Failure: Error, Equatable {
        var reason: String
    }

    /// One statement of the file: the lines it spans and what it is.
    struct Statement {
        enum Kind: Equatable {
            case other
            /// `[name]` (array-of-tables headers are `[[name]]`: name keeps one pair of brackets).
            case header(String)
            /// `key = value`: the key's dotted parts, where the value's last line's trailing comment starts (if any).
            case keyValue([String])
        }
        var first: Int
        var last: Int
        var kind: Kind
        /// For a key-value: the trailing comment of its last line with the spaces before it ("" if none), and the
        /// first line's indentation.
        var comment = ""
        var indent = ""
    }

    /// Sets `values` (key, TOML value text) in table `table` of `text`.
    static func set(_ values: [(key: String, value: String)], table: String, in text: String) throws(Failure) -> String {
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        let endsWithNewline = text.hasSuffix("\n")
        if endsWithNewline { lines.removeLast() }
        let statements = try parse(lines)
        // Where the table is: its `[table]` section, or dotted `table.key` lines at the top (before any header).
        var section: String? = ""
        var sectionStart: Int?
        var lastInSection: Int?
        var found: [String: Statement] = [:]
        var rootDotted = false
        for s in statements {
            switch s.kind {
            case .header(let name):
                section = name
                if name == table {
                    if sectionStart != nil { throw Failure(reason: "[\(table)] appears twice") }
                    sectionStart = s.last
                    lastInSection = s.last
                }
            case .keyValue(let path):
                if section == table, path.count == 1 {
                    found[path[0]] = s
                    lastInSection = s.last
                } else if section == table {
                    lastInSection = s.last
                } else if section == "", path.first == table {
                    // `table = {...}` or `table.key = ...` at the top.
                    guard path.count == 2 else {
                        throw Failure(reason: "\(table) is written as an inline table: write it as a [\(table)] section")
                    }
                    rootDotted = true
                    found[path[1]] = s
                    lastInSection = s.last
                }
            case .other:
                break
            }
        }
        var edits: [(first: Int, last: Int, lines: [String])] = []
        var missing: [String] = []
        for (key, value) in values {
            if let s = found[key] {
                let name = rootDotted ? "\(table).\(key)" : key
                let comment = s.comment.isEmpty || s.comment.first == "#" ? (s.comment.isEmpty ? "" : " " + s.comment) : s.comment
                edits.append((s.first, s.last, [s.indent + name + " = " + value + comment]))
            } else {
                missing.append((rootDotted ? "\(table).\(key)" : key) + " = " + value)
            }
        }
        if !missing.isEmpty {
            if let after = lastInSection {
                edits.append((after + 1, after, missing))
            } else {
                var block = [String]()
                if let last = lines.last, !last.trimmingSpaces.isEmpty { block.append("") }
                block.append("[\(table)]")
                edits.append((lines.count, lines.count - 1, block + missing))
            }
        }
        // Apply from the bottom up so line numbers stay right.
        for e in edits.sorted(by: { $0.first > $1.first }) {
            lines.replaceSubrange(e.first..<(e.last + 1), with: e.lines)
        }
        return lines.joined(separator: "\n") + (endsWithNewline || text.isEmpty ? "\n" : "")
    }

    /// The file's statements: headers, key-values (with every line a multi-line value spans), the rest.
    static func parse(_ lines: [String]) throws(Failure) -> [Statement] {
        var out: [Statement] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                out.append(Statement(first: i, last: i, kind: .other))
                i += 1
                continue
            }
            if trimmed.hasPrefix("[") {
                out.append(Statement(first: i, last: i, kind: .header(headerName(trimmed))))
                i += 1
                continue
            }
            guard let eq = keyEnd(line) else {
                out.append(Statement(first: i, last: i, kind: .other))
                i += 1
                continue
            }
            let key = String(line[..<eq])
            let indent = String(line.prefix { $0 == " " || $0 == "\t" })
            var scanner = ValueScanner()
            var j = i
            var rest = String(line[line.index(after: eq)...])
            var comment = ""
            while true {
                comment = scanner.scan(rest)
                if scanner.complete { break }
                j += 1
                guard j < lines.count else { throw Failure(reason: "a value that never ends (line \(i + 1))") }
                rest = lines[j]
            }
            out.append(Statement(first: i, last: j, kind: .keyValue(keyPath(key)), comment: comment, indent: indent))
            i = j + 1
        }
        return out
    }

    /// `[ a . "b" ]` -> `a.b`; `[[x]]` -> `[x]`.
    static func headerName(_ trimmed: String) -> String {
        let array = trimmed.hasPrefix("[[")
        var inner = trimmed.dropFirst(array ? 2 : 1)
        if let close = inner.firstIndex(of: "]") { inner = inner[..<close] }
        let name = keyPath(String(inner)).joined(separator: ".")
        return array ? "[\(name)]" : name
    }

    /// Where a key-value line's `=` is (outside quotes), if it is one.
    static func keyEnd(_ line: String) -> String.Index? {
        var quote: Character?
        var i = line.startIndex
        while i < line.endIndex {
            let c = line[i]
            if let q = quote {
                if c == "\\" && q == "\"" {
                    i = line.index(after: i)
                } else if c == q {
                    quote = nil
                }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "=" {
                return i
            } else if c == "#" {
                return nil
            }
            if i < line.endIndex { i = line.index(after: i) }
        }
        return nil
    }

    /// A key's dotted parts, unquoted and trimmed.
    static func keyPath(_ key: String) -> [String] {
        var parts: [String] = []
        var cur = ""
        var quote: Character?
        for c in key {
            if let q = quote {
                if c == q { quote = nil } else { cur.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                parts.append(cur.trimmingSpaces)
                cur = ""
            } else {
                cur.append(c)
            }
        }
        parts.append(cur.trimmingSpaces)
        return parts
    }

    /// Follows a value across lines: strings (basic, literal, multi-line), brackets, comments.
    struct ValueScanner {
        private var depth = 0
        private var multi: String?
        private var seen = false
        /// The value has ended (at the end of the last line scanned).
        private(set) var complete = false

        /// Scans one line of the value; returns its trailing comment (from `#`), "" if none.
        mutating func scan(_ text: String) -> String {
            let chars = Array(text)
            var i = 0
            func starts(_ s: String, at k: Int) -> Bool {
                let p = Array(s)
                return k + p.count <= chars.count && Array(chars[k..<(k + p.count)]) == p
            }
            var comment = ""
            while i < chars.count {
                let c = chars[i]
                if let m = multi {
                    if m == "\"\"\"" && c == "\\" {
                        i += 2
                        continue
                    }
                    if starts(m, at: i) {
                        multi = nil
                        i += 3
                        // Up to two more quotes may close it ("""" ends with a quote in the string).
                        while i < chars.count && String(chars[i]) == String(m.first!) { i += 1 }
                        continue
                    }
                    i += 1
                    continue
                }
                if c == "#" {
                    // The comment with the spaces before it, as the user aligned it.
                    var j = i
                    while j > 0 && (chars[j - 1] == " " || chars[j - 1] == "\t") { j -= 1 }
                    comment = String(chars[j...])
                    break
                }
                if c == " " || c == "\t" || c == "\r" {
                    i += 1
                    continue
                }
                seen = true
                if starts("\"\"\"", at: i) || starts("'''", at: i) {
                    multi = String(chars[i..<(i + 3)])
                    i += 3
                    continue
                }
                if c == "\"" || c == "'" {
                    i += 1
                    while i < chars.count && chars[i] != c {
                        if c == "\"" && chars[i] == "\\" { i += 1 }
                        i += 1
                    }
                    i += 1
                    continue
                }
                if c == "[" || c == "{" { depth += 1 }
                if c == "]" || c == "}" { depth -= 1 }
                i += 1
            }
            complete = seen && multi == nil && depth <= 0
            return comment
        }
    }
}
