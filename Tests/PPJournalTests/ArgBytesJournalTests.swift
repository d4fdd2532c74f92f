// Text that is bytes (ByteText) in the journal and --json: lossy text for readers, KEY_base64 with the exact bytes.
import PPJSON
import PPKit
import Testing

@testable import PPJournal

@Suite("journal and --json carry arguments' bytes")
struct ArgBytesJournalTests {
    let odd = ByteText.decode([0x63, 0x61, 0x66, 0xE9, 0x2E, 0xFF])
    let oddTemplate = ByteText.decode(Array("echo \u{00E9}".utf8) + [0xE9] + Array(" {}".utf8))

    @Test("header, batch and submitted lines: lossy text plus _base64, read back exactly")
    func eventsRoundTrip() throws {
        var h = JournalHeader(
            kind: "run", ppdashVersion: "0", commandLine: ["ppdash", "run", "--", oddTemplate, ":::", odd, "x"],
            engines: ["local:1"], template: oddTemplate, arguments: [[odd, "x"], ["y"]])
        h.workingDirectory = "/tmp/" + odd
        h.settings = RunSettings(environment: ["X"], workdir: "/tmp/" + odd)
        let events: [JournalEvent] = [
            .header(h), .batch(id: 1, label: oddTemplate),
            .submitted(.init(id: 1, batch: 1, seq: 1, command: "echo " + odd, args: [odd, "plain"])),
        ]
        for e in events {
            let line = e.line
            #expect(line.contains("_base64"), "\(line)")
            #expect(!line.unicodeScalars.contains { ByteText.reserved.contains($0.value) }, "no reserved code point in the file: \(line)")
            let back = try JournalEvent.decode(try JSONValue.parse(line))
            #expect(back == e, "\(line)")
        }
    }

    @Test("plain UTF-8 gets no _base64 key; a bad _base64 falls back to the text")
    func onlyWhereNeeded() throws {
        let plain = JournalEvent.submitted(.init(id: 1, batch: 1, seq: 1, command: "echo café", args: ["café"]))
        #expect(!plain.line.contains("_base64"))
        let bad = #"{"event":"submitted","id":1,"command":"c","command_base64":"!!","args":["a"],"args_base64":["YQ==","Yg=="]}"#
        guard case .submitted(let s)? = try JournalEvent.decode(try JSONValue.parse(bad)) else {
            Issue.record("not a submitted line")
            return
        }
        #expect(s.command == "c" && s.args == ["a"])
    }

    @Test("--json's record (FlatTaskRecord): args_base64 and command_base64, read back exactly")
    func flatRecord() throws {
        var r = try #require(FlatTaskRecord(json: try JSONValue.parse(#"{"id":"1"}"#)))
        r.args = [odd, "plain"]
        r.command = "echo " + odd
        let line = r.jsonLine()
        #expect(line.contains(#""args":["caf\#u{FFFD}.\#u{FFFD}","plain"],"args_base64":["Y2Fm6S7/","cGxhaW4="]"#), "\(line)")
        #expect(line.contains(#""command_base64":"ZWNobyBjYWbpLv8=""#), "\(line)")
        let back = try #require(FlatTaskRecord(json: try JSONValue.parse(line)))
        #expect(back.args == r.args && back.command == r.command)
    }

    @Test("any value (a group with a range object): KEY_base64 of the same shape, nulls for non-strings, read back")
    func anyShape() throws {
        let value: JSONValue = .array([.array([.string(odd), .object(["range": .array([.integer(1), .integer(9)])]), .string("x")])])
        var o = JSONObjectWriter()
        o.addBytes("args", value)
        let line = o.finish()
        #expect(line.contains(#""args_base64":[["Y2Fm6S7/",{"range":[null,null]},"eA=="]]"#), "\(line)")
        let parsed = try JSONValue.parse(line)
        #expect(parsed.bytesValue("args") == value)
        #expect(parsed["args"] != value, "the text for readers is lossy")
    }
}
