import PPSource
import PPSystem
import Testing

@testable import PPDash

@Suite("Config save keeps the user's lines")
struct ConfigKeepTests {
    static let commented = """
        # my ppdash settings
        refresh = 0.25   # faster
        theme = "mono"

        # the table: what I look at
        [table]
        # columns I like
        columns = [
          "id",      # first
          "status",
        ]   # end of columns
        sort = "id"  # by id
        extra = 1

        [other]   # someone else's section
        columns = ["keep", "me"]
        note = '''
        [table]
        sort = "not a key"
        '''
        """

    func saved(_ text: String, columns: [SortKey] = [.engine, .text], sort: SortKey = .duration, ascending: Bool = false)
        throws -> String
    {
        let dir = "/tmp/ppdash-dash2-keep-\(SystemFacts.pid)-\(UInt32.random(in: 0...UInt32.max))"
        let path = dir + "/config.toml"
        defer {
            _ = PrivateFiles.remove(path)
            _ = PrivateFiles.removeEmptyDirectory(dir)
        }
        try PrivateFiles.makeDirectory(dir)
        try text.write(path)
        try ConfigFile.save(columns: columns, sort: sort, ascending: ascending, to: path)
        return String(decoding: SystemFacts.contents(of: path) ?? [], as: UTF8.self)
    }

    @Test("a commented file: every comment, blank line and other key stays; only columns, sort and order change")
    func keepsComments() throws {
        let out = try saved(Self.commented)
        let before = Self.commented.split(separator: "\n", omittingEmptySubsequences: false)
        let after = out.split(separator: "\n", omittingEmptySubsequences: false)
        // Every line of the old file that is not part of the keys ppdash writes is still there, in order.
        let written = Set(["columns = [", "  \"id\",      # first", "  \"status\",", "]   # end of columns", "sort = \"id\"  # by id"])
        let kept = before.filter { !written.contains(String($0)) }
        var it = after.makeIterator()
        for line in kept {
            var found = false
            while let l = it.next() {
                if l == line {
                    found = true
                    break
                }
            }
            #expect(found, "lost: \(line)\n\(out)")
        }
        #expect(out.contains("columns = [\"engine\", \"command\"]   # end of columns"), "\(out)")
        #expect(out.contains("sort = \"duration\"  # by id"))
        #expect(out.contains("order = \"descending\""))
        // order was missing: it goes after the table's last key, inside [table].
        let orderLine = after.firstIndex { $0.hasPrefix("order =") }!
        let otherLine = after.firstIndex { $0.hasPrefix("[other]") }!
        let extraLine = after.firstIndex { $0 == "extra = 1" }!
        #expect(extraLine < orderLine && orderLine < otherLine)
        // The other section's keys of the same names and the multi-line string are untouched.
        #expect(out.contains("columns = [\"keep\", \"me\"]"))
        #expect(out.contains("sort = \"not a key\""))
        let (c, w) = ConfigFile.parse(out, path: "p")
        #expect(c.columns == [.engine, .text] && c.sort == .duration && c.ascending == false && c.refresh == 0.25 && c.theme == .mono)
        #expect(w.count == 2, "the unknown keys extra and [other] still warn: \(w)")
        // Saving again changes only those lines again.
        let again = try saved(out, columns: [.id], sort: .id, ascending: true)
        #expect(again.split(separator: "\n").count == out.split(separator: "\n").count)
        #expect(again.contains("columns = [\"id\"]   # end of columns"))
    }

    @Test("no [table] yet: appended at the end, the rest kept; an empty file gets a header comment")
    func appends() throws {
        let out = try saved("# mine\nrefresh = 0.5\n")
        #expect(out.hasPrefix("# mine\nrefresh = 0.5\n\n[table]\ncolumns = "), "\(out)")
        let fresh = try saved("")
        #expect(fresh.hasPrefix("# ppdash dashboard settings"))
        #expect(ConfigFile.parse(fresh, path: "p").0.columns == [.engine, .text])
        // No newline at the end of the file: still one line each.
        let bare = try saved("[table]\nsort = \"id\"")
        #expect(ConfigFile.parse(bare, path: "p").0.sort == .duration, "\(bare)")
        #expect(bare.hasPrefix("[table]\nsort = \"duration\""))
    }

    @Test("dotted keys at the top are edited where they are; an inline table is refused, the file untouched")
    func otherForms() throws {
        let dotted = try saved("table.sort = \"id\" # mine\nrefresh = 1\n")
        #expect(dotted.hasPrefix("table.sort = \"duration\" # mine\n"), "\(dotted)")
        #expect(ConfigFile.parse(dotted, path: "p").0.columns == [.engine, .text])
        let dir = "/tmp/ppdash-dash2-inline-\(SystemFacts.pid)-\(UInt32.random(in: 0...UInt32.max))"
        let path = dir + "/c.toml"
        try PrivateFiles.makeDirectory(dir)
        defer {
            _ = PrivateFiles.remove(path)
            _ = PrivateFiles.removeEmptyDirectory(dir)
        }
        let inline = "# keep\ntable = { sort = \"id\" }\n"
        try inline.write(path)
        #expect(throws: ConfigError.self) { try ConfigFile.save(columns: [.id], sort: .id, ascending: true, to: path) }
        #expect(String(decoding: SystemFacts.contents(of: path) ?? [], as: UTF8.self) == inline)
    }

    @Test("the line scanner follows strings, brackets and comments across lines")
    func scanner() throws {
        let lines = ["a = [1, [2,", "  3]] # c", "b = \"\"\"x", "]\"\"\"", "[t]", "c = 'its' # d"]
        let s = try TOMLLineEdit.parse(lines)
        #expect(s.map(\.first) == [0, 2, 4, 5])
        #expect(s[0].last == 1 && s[0].comment == " # c")
        #expect(s[1].last == 3)
        #expect(s[2].kind == .header("t"))
        #expect(s[3].kind == .keyValue(["c"]))
        #expect(throws: TOMLLineEdit.Failure.self) { try TOMLLineEdit.parse(["a = [1,"]) }
    }
}
