import PPJSON
import Testing

private func text(_ body: (inout JSONObjectWriter) -> Void) -> String {
    var o = JSONObjectWriter()
    body(&o)
    return o.finish()
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test func escapesWhatJSONNeedsAndNothingElse() {
        #expect(text { $0.add("s", "plain é 😀") } == #"{"s":"plain é 😀"}"#)
        #expect(text { $0.add("s", "q\" b\\ n\n r\r t\t") } == #"{"s":"q\" b\\ n\n r\r t\t"}"#)
        #expect(text { $0.add("s", "\u{0}\u{1}\u{1b}\u{7f}\u{1f}") } == #"{"s":"\u0000\u0001\u001b\u007f\u001f"}"#)
        #expect(text { $0.add("s", "a\u{2028}b\u{2029}c\u{2027}") } == "{\"s\":\"a\\u2028b\\u2029c\u{2027}\"}")
        #expect(text { $0.add("k\"", nil as String?) } == #"{"k\"":null}"#)
    }

    @Test func numbers() {
        #expect(text { $0.add("i", Int.min) } == "{\"i\":\(Int.min)}")
        #expect(text { $0.add("i", Int.max) } == "{\"i\":\(Int.max)}")
        #expect(text { $0.add("i", -7); $0.add("z", 0); $0.add("t", 10) } == #"{"i":-7,"z":0,"t":10}"#)
        #expect(text { $0.add("d", 0.5); $0.add("w", 1.0) } == #"{"d":0.5,"w":1.0}"#)
        // JSON has no NaN or infinity: they are written as null.
        #expect(text { $0.add("n", Double.nan); $0.add("i", -Double.infinity) } == #"{"n":null,"i":null}"#)
        #expect(JSONValue.number(.nan).text == "null")
        #expect(JSONValue.number(3).text == "3" && JSONValue.number(1e300).text == "1e+300")
    }

    @Test func appendsIntoAReusedBuffer() {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(256)
        JSONObjectWriter.append(to: &buffer) { o in
            o.add("a", [["x"], []] as [[String]]?)
            o.add("t", iso8601: 0)
        }
        buffer.append(10)
        JSONObjectWriter.append(to: &buffer) { o in o.add("b", true) }
        #expect(String(decoding: buffer, as: UTF8.self) == "{\"a\":[[\"x\"],[]],\"t\":\"1970-01-01T00:00:00.000000Z\"}\n{\"b\":true}")
    }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test func roundTrip() throws {
        let source = #"{"a":[1,2.5,"x\n\"yé\ud83d\ude00\u2028"],"b":null,"c":true,"d":{"e":-3,"f":false},"g":""}"#
        let v = try JSONValue.parse(source)
        #expect(v["a"]?.array?[2].string == "x\n\"yé😀\u{2028}")
        #expect(v["d"]?["e"]?.int == -3)
        #expect(try JSONValue.parse(v.text) == v)
        #expect(v.text == #"{"a":[1,2.5,"x\n\"yé😀\u2028"],"b":null,"c":true,"d":{"e":-3,"f":false},"g":""}"#)
    }

    @Test func surrogatesAndEscapes() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#).string == "😀")
        #expect(try JSONValue.parse(#""\ud83d x""#).string == "\u{FFFD} x")  // a lone high surrogate
        #expect(try JSONValue.parse(#""\ude00""#).string == "\u{FFFD}")  // a lone low one
        #expect(try JSONValue.parse(#""\ud83d\u0041""#).string == "\u{FFFD}A")
        #expect(try JSONValue.parse(#""\/\b\f""#).string == "/\u{8}\u{c}")
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#""\x""#) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#""\u12""#) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse("\"a\u{1}b\"") }  // raw control character
        #expect(throws: JSONParseError.self) { try JSONValue.parse("\"open") }
    }

    @Test func numbersStayExactOrAreRefused() throws {
        #expect(try JSONValue.parse("9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try JSONValue.parse("-9223372036854775808") == .integer(.min))
        #expect(try JSONValue.parse("92233720368547758070").double == 92_233_720_368_547_758_080.0)  // beyond Int64
        #expect(try JSONValue.parse("-0.5e-3").double == -0.0005)
        #expect(try JSONValue.parse("1E2") == 100)
        for bad in ["1e400", "-1e400", "01", "1.", ".5", "-", "+1", "1e", "NaN", "Infinity", "-Infinity", "0x10"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        // Python's json writes NaN and Infinity; Jupyter messages may hold them.
        #expect(try JSONValue.parse("[NaN,Infinity,-Infinity]", allowNonFinite: true).array?.count == 3)
    }

    @Test func refusesMalformedText() {
        for bad in ["", "{", "{\"a\":}", "[1,2", "{} x", "{\"a\" 1}", "[1,]", "{,}", "tru", "nul"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func scannerReadsChosenMembersOnly() throws {
        let line = Array(#"{"event":"completed","id":"7","nested":{"x":[1,{"y":"}"}]},"status":"ok","stdout":"a\"b"}"#.utf8)
        var seen: [String] = []
        var status: String?
        try line.withUnsafeBufferPointer { b in
            var s = try JSONObjectScanner(b)
            while let k = try s.next() {
                seen.append(String(decoding: k, as: UTF8.self))
                if JSONObjectScanner.key(k, is: "status") { status = try s.value().string }
            }
        }
        #expect(seen == ["event", "id", "nested", "status", "stdout"])
        #expect(status == "ok")
    }
}

@Suite("ISO 8601")
struct ISO8601Tests {
    @Test func writesAndParsesBack() {
        for us: Int64 in [0, 1_764_410_000_123_456, 1_000_000, 951_782_400_000_001, -1, -86_400_000_001, 253_402_300_799_999_999] {
            let s = ISO8601.string(microseconds: us)
            #expect(ISO8601.parse(s) == us, "\(s)")
        }
        #expect(ISO8601.string(microseconds: 1_764_410_000_123_456) == "2025-11-29T09:53:20.123456Z")
        #expect(ISO8601.string(microseconds: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(ISO8601.string(microseconds: 951_782_400_000_001) == "2000-02-29T00:00:00.000001Z")
    }

    @Test func readsPythonsForms() {
        let t = ISO8601.parse("2026-11-29T10:12:20.123456Z")
        #expect(t != nil)
        #expect(ISO8601.parse("2026-11-29 10:12:20.123456+00:00") == t)
        #expect(ISO8601.parse("2026-11-29T11:42:20.123456+01:30") == t)
        #expect(ISO8601.parse("2026-11-29T09:12:20.123456-0100") == t)
        #expect(ISO8601.parse("2026-11-29T10:12:20.123456") == t)
        #expect(ISO8601.parse("2026-11-29T10:12:20.123456789Z") == t)
        #expect(ISO8601.parse("2026-11-29T10:12:20Z").map { $0 + 123_456 } == t)
        for bad in ["yesterday", "2026-11-29", "2026-13-01T00:00:00Z", "2026-11-29T10:12:20.Z", "2026-11-29T10:12:20Zjunk",
            "2026/11/29T10:12:20Z"]
        {
            #expect(ISO8601.parse(bad) == nil, "\(bad)")
        }
    }
}

private struct Sample: Codable, Equatable {
    enum Kind: Codable, Equatable {
        case one(Int)
        case two(name: String, at: Double)
        case none
    }
    var a: Int64
    var b: String?
    var c: [Kind]
    var d: [Int: String]
    var e: Double
    var f: UInt8
}

@Suite("Codable over JSONValue")
struct JSONCodableTests {
    @Test func roundTrips() throws {
        let s = Sample(
            a: 9_007_199_254_740_993, b: nil, c: [.one(1), .two(name: "x", at: .infinity), .none], d: [3: "three"],
            e: .nan, f: 255)
        let v = try JSONEncoding.value(s)
        #expect(v["a"] == .integer(9_007_199_254_740_993))
        #expect(v["b"] == nil)
        #expect(v["e"] == "nan")
        var back = try JSONDecoding.decode(Sample.self, from: try JSONValue.parse(v.bytes))
        #expect(back.e.isNaN)
        back.e = s.e
        #expect(back.a == s.a && back.c == s.c && back.d == s.d && back.f == 255)
        #expect(throws: (any Error).self) { try JSONDecoding.decode(Sample.self, from: Array(#"{"a":1}"#.utf8)) }
        #expect(throws: (any Error).self) {
            try JSONDecoding.decode(UInt8.self, from: JSONValue.integer(256))
        }
    }
}

@Suite("JSON under random input")
struct JSONFuzzTests {
    /// A deterministic generator, so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func anyStringRoundTripsThroughTheWriterAndParser() throws {
        var rng = SplitMix(state: 11)
        let pool: [Unicode.Scalar] = ["\u{0}", "\u{1f}", "\"", "\\", "/", "\n", "\u{7f}", "\u{80}", "é", "\u{2028}", "\u{2029}",
            "\u{FFFD}", "\u{FEFF}", "😀", "a", " ", "\u{10FFFF}", "\u{E2}"]
        for _ in 0..<2000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...12, using: &rng) { s.append(pool.randomElement(using: &rng)!) }
            let text = String(s)
            var o = JSONObjectWriter()
            o.add("s", text)
            let line = o.finish()
            #expect(!line.utf8.contains { $0 < 0x20 }, "raw control byte in \(line)")
            #expect(try JSONValue.parse(line)["s"]?.string == text)
        }
    }

    @Test func mangledDocumentsAreRefusedNeverCrash() {
        var rng = SplitMix(state: 7)
        let doc = Array(#"{"a":[1,-2.5e3,"x\"\u00e9\ud83d\ude00",true,null],"b":{"c":"d"},"e":""}"#.utf8)
        let bytes: [UInt8] = Array("{}[]\":,\\-+.eE0123456789tfnu \u{1}".utf8) + [0xFF, 0xC3]
        var refused = 0
        for _ in 0..<5000 {
            var d = doc
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<d.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: d[i] = bytes.randomElement(using: &rng)!
                case 1: d.remove(at: i)
                default: d.insert(bytes.randomElement(using: &rng)!, at: i)
                }
                if d.isEmpty { d = [0x7B] }
            }
            do {
                let v = try JSONValue.parse(d)
                #expect(try JSONValue.parse(v.bytes) == v)  // whatever is accepted writes back and reads the same
            } catch {
                refused += 1
            }
            d.withUnsafeBufferPointer { b in
                guard var s = try? JSONObjectScanner(b) else { return }
                while let k = try? s.next() { _ = k }
            }
        }
        #expect(refused > 1000)
    }
}
