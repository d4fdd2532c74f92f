import Foundation
import PPKit
import Testing

@testable import PPJournal

/// A run header with a template and argument groups, as `ppdash run` writes it.
private func rangeHeader(_ groups: [ArgGroup]) -> String {
    var h = JournalHeader(kind: "run", ppdashVersion: "0.1.0", engines: ["local:2"], template: "echo {}", arguments: groups)
    h.host = "h1"
    h.pid = 4711
    return h.jsonLine()
}

@Suite("Journal header ranges")
struct RangeHeaderTests {
    @Test("a range is written as {\"range\":[a,b]} and read back as a range, never expanded; plain values stay text")
    func rangeRoundTrip() throws {
        var g = ArgGroup()
        g.append("a")
        try g.appendRange(1, 10_000_000)
        g.append("b")
        let line = rangeHeader([g, ["x", "y"]])
        #expect(line.contains(#""args":[["a",{"range":[1,10000000]},"b"],["x","y"]]"#), "\(line)")
        #expect(line.utf8.count < 1000)
        let c = try JournalReader.parse(Data((line + "\n").utf8), path: "/j.jsonl", maxPlanned: 10)
        let groups = try #require(c.runs[0].header.arguments)
        #expect(groups[0].items == [.values(["a"]), .range(from: 1, to: 10_000_000), .values(["b"])])
        #expect(groups[0].count == 10_000_002)
        #expect(groups[1] == ["x", "y"])
    }

    @Test("an old header with every value written out still reads, and plans its unsubmitted tasks")
    func oldListsRead() throws {
        let old = rangeHeader([["1", "2", "3"]])
        let c = try JournalReader.parse(Data((old + "\n").utf8), path: "/j.jsonl")
        #expect(c.runs[0].header.arguments == [["1", "2", "3"]])
        #expect(c.tasks.map(\.args) == [["1"], ["2"], ["3"]])
        #expect(c.warnings.isEmpty)
    }

    @Test("a sweep too big to plan whole: the first maxPlanned tasks are planned, the rest said in a warning")
    func hugeSweepBounded() throws {
        var g = ArgGroup()
        try g.appendRange(1, 1_000_000)
        // A product of a trillion: reading it must not allocate per task of the sweep.
        let line = rangeHeader([g, g])
        let c = try JournalReader.parse(Data((line + "\n").utf8), path: "/j.jsonl", maxPlanned: 5)
        #expect(c.tasks.count == 5)
        #expect(c.tasks.last?.args == ["1", "5"])
        #expect(c.warnings.count == 1)
        #expect(c.warnings.first?.contains("1,000,000,000,000 tasks") == true, "\(c.warnings)")
        #expect(c.warnings.first?.contains("999,999,999,995 never submitted past task 5 are not planned") == true, "\(c.warnings)")
    }

    @Test("a damaged range in the header is refused with a reason, not a trap")
    func damagedRange() {
        let bad = #"{"ppdash_journal":1,"event":"start","run":1,"kind":"run","host":"h","pid":1,"template":"echo {}","args":[[{"range":[1]}]]}"#
        #expect(throws: JournalError.self) { try JournalReader.parse(Data((bad + "\n").utf8), path: "/j.jsonl") }
        let huge = #"{"ppdash_journal":1,"event":"start","run":1,"kind":"run","host":"h","pid":1,"template":"echo {}","args":[[{"range":[-9223372036854775807,9223372036854775807]}]]}"#
        #expect(throws: JournalError.self) { try JournalReader.parse(Data((huge + "\n").utf8), path: "/j.jsonl") }
    }
}
