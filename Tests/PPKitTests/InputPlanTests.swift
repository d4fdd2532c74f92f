// GNU parallel's input forms: parsing (`InputPlan`) and combining (`InputRows`).
import Foundation
import PPKit
import PPSystem
import Testing

@Suite("Input plans and rows")
struct InputPlanTests {
    /// Every task's arguments of `words` (read to the end).
    func rows(_ words: [String], argFiles: [String] = [], _ configure: (inout InputOptions) -> Void = { _ in }) throws -> [[String]] {
        var o = InputOptions()
        configure(&o)
        let r = try InputRows(InputPlan.parse(words: words, argFiles: argFiles, options: o), warn: { _ in })
        var out = [[String]]()
        while let a = r.next() { out.append(a) }
        return out
    }

    @Test("the separators split template and groups; none reaches the template")
    func separators() throws {
        let p = try InputPlan.parse(words: ["echo", "{}", ":::", "a", ":::+", "b", "::::", "f", "g", "::::+", "h"])
        #expect(p.templateText == "echo {}")
        #expect(p.groups == [
            InputGroup(.values(["a"])), InputGroup(.values(["b"]), linked: true), InputGroup(.file("f")),
            InputGroup(.file("g")), InputGroup(.file("h"), linked: true),
        ])
        #expect(p.sweep == nil)
        #expect(p.files == ["f", "g", "h"])
    }

    @Test("-a files come first; a plain ::: plan is a sweep")
    func argFilesFirst() throws {
        let p = try InputPlan.parse(words: ["echo", ":::", "z"], argFiles: ["f"])
        #expect(p.groups == [InputGroup(.file("f")), InputGroup(.values(["z"]))])
        let s = try #require(try InputPlan.parse(words: ["echo", ":::", "1..3", ":::", "a"]).sweep)
        #expect(s.count == 3 && s.groups[0] == ["1", "2", "3"])
        #expect(try InputPlan.parse(words: ["echo", ":::", "a"], options: { var o = InputOptions(); o.perTask = 1; return o }()).sweep == nil)
    }

    @Test("refusals: empty groups, stdin twice, {= =}, a bad regex, -N out of range")
    func refusals() {
        #expect(throws: SweepError(":::: needs a file name (- for stdin)")) { try InputPlan.parse(words: ["e", "::::"]) }
        #expect(throws: SweepError(":::+ needs at least one argument")) { try InputPlan.parse(words: ["e", ":::", "a", ":::+"]) }
        #expect(throws: SweepError("stdin (-) given as input 2 times: it can be read once")) {
            try InputPlan.parse(words: ["e", "::::", "-"], argFiles: ["-"])
        }
        #expect(throws: SweepError.self) { try InputPlan.parse(words: ["echo", "{= s/a/b/ =}", ":::", "a"]) }
        #expect(throws: SweepError.self) { try Template("a {=1 $_ =} b") }
        #expect(throws: SweepError.self) {
            var o = InputOptions()
            o.columnSeparator = "("
            return try InputPlan.parse(words: ["e", ":::", "a"], options: o)
        }
        #expect(throws: SweepError.self) { try Sweep.parse(words: ["e", ":::", "a", ":::+", "b"]) }
        // A `{=` without its `=}` is no perl expression.
        #expect((try? Template("awk '{=x}'")) != nil)
    }

    @Test("the dashboard's prompt refuses :::+ and :::: (template or values), a quoted one is a value")
    func promptSeparators() throws {
        #expect(throws: SweepError.self) { try Sweep.parse(line: "echo {} ::: a :::+ b") }
        #expect(throws: SweepError.self) { try Sweep.parse(line: "echo {} :::: f ::: a") }
        #expect(try Sweep.parse(line: "echo {} ::: a ':::+'").groups == [["a", ":::+"]])
    }

    @Test("linked groups pair up to the shorter one; unlinked ones make a product, first slowest")
    func linking() throws {
        #expect(try rows(["e", ":::", "a", "b", "c", ":::+", "1", "2"]) == [["a", "1"], ["b", "2"]])
        #expect(try rows(["e", ":::", "a", "b", ":::", "x", "y", ":::+", "1", "2", "3"])
            == [["a", "x", "1"], ["a", "y", "2"], ["b", "x", "1"], ["b", "y", "2"]])
        #expect(try rows(["e", ":::", "a", "b", ":::+", "1", "2", ":::", "X"]) == [["a", "1", "X"], ["b", "2", "X"]])
        #expect(try rows(["e", ":::+", "a", "b"]) == [["a"], ["b"]])
        #expect(try rows(["e", ":::", "1..3", ":::+", "a", "b", "c", "d"]) == [["1", "a"], ["2", "b"], ["3", "c"]])
    }

    @Test("-N flattens n rows into one task; 0 gives none; the last task may be short")
    func perTask() throws {
        #expect(try rows(["e", ":::", "a", "b", "c"]) { $0.perTask = 2 } == [["a", "b"], ["c"]])
        #expect(try rows(["e", ":::", "a", "b", "c", ":::", "x", "y"]) { $0.perTask = 2 }
            == [["a", "x", "a", "y"], ["b", "x", "b", "y"], ["c", "x", "c", "y"]])
        #expect(try rows(["e", ":::", "a", "b"]) { $0.perTask = 0 } == [[], []])
    }

    @Test("--colsep splits every value, empty columns kept; a regex too")
    func colsep() throws {
        #expect(try rows(["e", ":::", "a,b", "c,,d,"]) { $0.columnSeparator = "," } == [["a", "b"], ["c", "", "d", ""]])
        #expect(try rows(["e", ":::", "a,,b"]) { $0.columnSeparator = ",+" } == [["a", "b"]])
        #expect(try rows(["e", ":::", "a::b"]) { $0.columnSeparator = "::" } == [["a", "b"]])
    }

    @Test("--header : names positions, the header is no task; {name.} keeps its modifier")
    func header() throws {
        var o = InputOptions()
        o.header = true
        o.columnSeparator = ","
        let r = try InputRows(InputPlan.parse(words: ["e", "{b.}", "{a}", "{zz}", ":::", "a,b", "1,x.y", ":::", "c", "7"], options: o), warn: { _ in })
        #expect(r.names == ["a": 1, "b": 2, "c": 3])
        #expect(r.template.text == "e {2.} {1} {zz}")
        #expect(r.next() == ["1", "x.y", "7"])
        #expect(r.next() == nil)
    }

    @Test("resolvingNames rewrites only {NAME[mod]} of known names")
    func resolving() {
        #expect(Template.resolvingNames("{x} {x/.} {x//} {y} {{x}} {x", ["x": 3]) == "{3} {3/.} {3//} {y} {{3}} {x")
        #expect(Template.resolvingNames("{a b}", ["a b": 1]) == "{1}")
    }

    @Test("-d escapes: \\t \\n \\0 \\x1e octal, several bytes; an empty one refused")
    func delimiters() throws {
        #expect(try InputOptions.delimiter("\\t") == [9])
        #expect(try InputOptions.delimiter("\\0") == [0])
        #expect(try InputOptions.delimiter("\\x1e") == [0x1E])
        #expect(try InputOptions.delimiter("\\101") == [65])
        #expect(try InputOptions.delimiter("::") == [58, 58])
        #expect(try InputOptions.delimiter("\\\\") == [92])
        #expect(throws: SweepError.self) { try InputOptions.delimiter("") }
        #expect(throws: SweepError.self) { try InputOptions.delimiter("\\777") }
    }

    @Test("files: items split at the delimiter across 64 KiB reads, a NUL cuts an item (said once), a last item without its delimiter")
    func files() throws {
        let dir = NSTemporaryDirectory() + "/ppkit-input-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A two-byte delimiter straddling the read boundary, and a long item.
        var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 65535) + Array("::y::a\0b::z".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/f"))
        var warned = [String]()
        var o = InputOptions()
        o.delimiter = [58, 58]
        let r = try InputRows(InputPlan.parse(words: ["e", "::::", dir + "/f"], options: o), warn: { warned.append($0) })
        #expect(r.next()?.first?.utf8.count == 65535)
        #expect(r.next() == ["y"])
        #expect(r.next() == ["a"])
        #expect(r.next() == ["z"])
        #expect(r.next() == nil)
        #expect(warned.count == 1 && warned[0].contains("item 3 of"))
        bytes = Array("1\n2\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/g"))
        // A file in a later unit is read whole and used again for each row of the first.
        #expect(try rows(["e", ":::", "a", "b", "::::", dir + "/g"]) == [["a", "1"], ["a", "2"], ["b", "1"], ["b", "2"]])
        #expect(throws: SweepError.self) { try InputRows(InputPlan.parse(words: ["e", "::::", dir + "/none"]), warn: { _ in }) }
        #expect(throws: SweepError.self) { try InputRows(InputPlan.parse(words: ["e", "::::", dir]), warn: { _ in }) }
    }

    @Test("an empty source beside a non-empty one is one empty value (as GNU parallel); all empty: no row")
    func emptySources() throws {
        let dir = NSTemporaryDirectory() + "ppdash-empty-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = dir + "/e"
        try Data().write(to: URL(fileURLWithPath: e))
        try Data("1\n2\n".utf8).write(to: URL(fileURLWithPath: dir + "/g"))
        #expect(try rows(["e", ":::", "x"], argFiles: [e]) == [["", "x"]])
        #expect(try rows(["e", ":::", "a", "b", "::::", e, ":::", "c"]) == [["a", "", "c"], ["b", "", "c"]])
        #expect(try rows(["e", ":::", "a", "b", "::::+", e]) == [["a", ""]])
        #expect(try rows(["e", "::::", e, "::::", dir + "/g"]) == [["", "1"], ["", "2"]])
        #expect(try rows(["e", "::::", e, "::::+", dir + "/g"]) == [["", "1"]])
        #expect(try rows(["e", "::::", e, "::::", e]).isEmpty)
        #expect(try rows(["e", "::::", e]).isEmpty)
        // With --header : an empty source keeps its position: the names after it still point at their own values.
        let named = try InputRows(
            InputPlan.parse(words: ["e", "{b}", ":::", "b", "1", "2", "::::", e, ":::", "c", "3"], options: { var o = InputOptions(); o.header = true; return o }()),
            warn: { _ in })
        #expect(named.names == ["b": 1, "c": 3])
        #expect(named.next() == ["1", "", "3"])
    }

    @Test("a ::: value holding the delimiter is one item per piece (as GNU parallel), empty pieces kept")
    func valuesSplitAtTheDelimiter() throws {
        #expect(try rows(["e", ":::", "a\nb", "c"]) == [["a"], ["b"], ["c"]])
        #expect(try rows(["e", ":::", "a\n\nb\n", "\n", ""]) == [["a"], [""], ["b"], [""], [""], [""], [""]])
        #expect(try rows(["e", ":::", "a,b", "c\nd"]) { $0.delimiter = [UInt8(ascii: ",")] } == [["a"], ["b"], ["c\nd"]])
        #expect(try rows(["e", ":::", "a::b:c"]) { $0.delimiter = Array("::".utf8) } == [["a"], ["b:c"]])
        #expect(try rows(["e", ":::", "a\nb"]) { $0.delimiter = [0] } == [["a\nb"]])
        // A split piece is a value like any other: a range, and bytes kept (a non-ASCII delimiter too).
        #expect(try rows(["e", ":::", "1..2\nx"]) == [["1"], ["2"], ["x"]])
        let raw = ByteText.decode([0x61, 0xE9, 0x62, 0x0A, 0xFF])
        #expect(try rows(["e", ":::", raw]) == [[ByteText.decode([0x61, 0xE9, 0x62])], [ByteText.decode([0xFF])]])
        #expect(try rows(["e", ":::", raw]) { $0.delimiter = [0xE9] } == [["a"], [ByteText.decode([0x62, 0x0A, 0xFF])]])
        // The sweep (and so the journal's header, which resume reads) holds the pieces.
        let s = try #require(try InputPlan.parse(words: ["e", ":::", "a\nb"]).sweep)
        #expect(s.groups == [["a", "b"]])
    }
}
