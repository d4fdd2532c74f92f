import PPKit
import Testing

@testable import PPIPP

@Suite("Pickles")
struct PickleTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    // Made by CPython 3.11: pickle.dumps(subprocess.run("echo out; echo err >&2; exit 3", shell=True,
    // capture_output=True, text=True), protocol=N).
    static let completed2 = "800263636f6d6d616e64730a436f6d706c6574656450726f636573730a7100298171017d7102285804000000617267737103581e0000006563686f206f75743b206563686f20657272203e26323b206578697420337104580a00000072657475726e636f646571054b0358060000007374646f7574710658040000006f75740a71075806000000737464657272710858040000006572720a710975622e"
    static let completed4 = "80049582000000000000008c0a73756270726f63657373948c10436f6d706c6574656450726f636573739493942981947d94288c0461726773948c1e6563686f206f75743b206563686f20657272203e26323b20657869742033948c0a72657475726e636f6465944b038c067374646f7574948c046f75740a948c06737464657272948c046572720a9475622e"
    // [1, -2, 300, 70000, -70000, 2**40, 2**70, 1.5, None, True, False, "héllo", b"\x00\x01", (1,), (1,2), (1,2,3),
    //  (1,2,3,4), {"a": 1, "b": [2]}, {1, 2}]
    static let mixed2 = "80025d7100284b014afeffffff4d2c014a701101004a90eefeff8a060000000000018a09000000000000000040473ff80000000000004e8889580600000068c3a96c6c6f7101635f636f646563730a656e636f64650a710258020000000001710358060000006c6174696e3171048671055271064b018571074b014b028671084b014b024b03877109284b014b024b034b0474710a7d710b28580100000061710c4b01580100000062710d5d710e4b026175635f5f6275696c74696e5f5f0a7365740a710f5d7110284b014b0265857111527112652e"
    static let mixed5 = "8005957e000000000000005d94284b014afeffffff4d2c014a701101004a90eefeff8a060000000000018a09000000000000000040473ff80000000000004e88898c0668c3a96c6c6f9443020001944b0185944b014b0286944b014b024b038794284b014b024b034b0474947d94288c0161944b018c0162945d944b0261758f94284b014b0290652e"

    static let mixedValue: PickleValue = .list([
        .int(1), .int(-2), .int(300), .int(70000), .int(-70000), .int(1 << 40), .bigInt("1180591620717411303424"),
        .float(1.5), .none, .bool(true), .bool(false), .string("héllo"), .bytes([0, 1]), .tuple([.int(1)]),
        .tuple([.int(1), .int(2)]), .tuple([.int(1), .int(2), .int(3)]), .tuple([.int(1), .int(2), .int(3), .int(4)]),
        .dict([PickleEntry(.string("a"), .int(1)), PickleEntry(.string("b"), .list([.int(2)]))]), .set([.int(1), .int(2)]),
    ])

    @Test("CPython's pickles of builtin values decode, protocols 2 and 5")
    func builtins() throws {
        #expect(try PickleReader.loads(Self.bytes(Self.mixed5)) == Self.mixedValue)
        #expect(try PickleReader.loads(Self.bytes(Self.mixed2)) == Self.mixedValue)
    }

    @Test("a CompletedProcess decodes to its class and state, protocols 2 and 4")
    func completedProcess() throws {
        for hex in [Self.completed2, Self.completed4] {
            let v = try PickleReader.loads(Self.bytes(hex))
            guard case .object(let cls, _, _) = v else {
                Issue.record("not an object: \(v)")
                continue
            }
            #expect(cls == "subprocess.CompletedProcess")
            #expect(v["returncode"] == .int(3))
            #expect(v["stdout"] == .string("out\n"))
            #expect(v["stderr"] == .string("err\n"))
            #expect(v.json["returncode"]?.int == 3)
        }
    }

    @Test("what PickleWriter writes, PickleReader reads back")
    func roundTrip() throws {
        var values: [PickleValue] = [
            .none, .bool(true), .int(0), .int(255), .int(256), .int(-1), .int(Int(Int32.max) + 1), .int(Int.min + 1),
            .float(-0.25), .string(""), .string("ünïcode ✓"), .bytes([0, 255]), .list([]), .tuple([]),
            .dict([]), .global(module: "subprocess", name: "run"),
        ]
        values.append(Self.mixedValue)
        for v in values {
            #expect(try PickleReader.loads(PickleWriter.dumps(v)) == v)
        }
    }

    @Test("the shell call: subprocess.run by name, the command, and sorted keyword arguments")
    func shellCall() throws {
        let b = ShellCall.buffers(command: "echo $((3*3))")
        #expect(b.count == 7)
        #expect(b[0] == [0x80, 3] + Array("csubprocess\nrun\n.".utf8))
        let info = try PickleReader.loads(b[1])
        #expect(info["nargs"] == .int(1))
        #expect(info["narg_bufs"] == .int(1))
        #expect(info["kw_keys"] == .list(["capture_output", "errors", "shell", "text"].map { .string($0) }))
        #expect(try PickleReader.loads(b[2]) == .string("echo $((3*3))"))
        #expect(try PickleReader.loads(b[3]) == .bool(true))
        #expect(try PickleReader.loads(b[4]) == .string("replace"))
        let call = TaskCall(buffers: b)
        #expect(call.shellCommand == "echo $((3*3))")
        #expect(call.text == "echo $((3*3))")
    }

    @Test("truncated or unknown input is an error, not a crash")
    func errors() {
        #expect(throws: PickleError.self) { try PickleReader.loads([0x80, 4, 0x8C, 10, 65]) }
        #expect(throws: PickleError.self) { try PickleReader.loads([0xFF]) }
        #expect(throws: PickleError.self) { try PickleReader.loads([UInt8(ascii: "a")]) }
        #expect(throws: PickleError.self) { try PickleReader.loads([]) }
    }

    @Test("a length or offset near Int.max from a hostile hub is an error, not an overflow")
    func hugeLengths() throws {
        // 8-byte lengths of Int.max and Int.max - 1 (SHORT_BINUNICODE8, BINBYTES8, BYTEARRAY8), after a few bytes read.
        for op: UInt8 in [0x8D, 0x8E, 0x96] {
            for low: UInt8 in [0xFF, 0xFE] {
                let pickle: [UInt8] = [0x80, 4, op, low, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 65, 66]
                #expect(throws: PickleError.self) { try PickleReader.loads(pickle) }
            }
        }
        // 4-byte lengths past the end (BINUNICODE, BINBYTES, BINSTRING) and a negative LONG4 length.
        for op in [UInt8(ascii: "X"), UInt8(ascii: "B"), UInt8(ascii: "T"), 0x8B] {
            #expect(throws: PickleError.self) { try PickleReader.loads([0x80, 4, op, 0xFF, 0xFF, 0xFF, 0xFF, 65]) }
        }
        // range(-2**63, 2**63 - 1) and range(0, -2**63, -1): spans that overflow stay a range object.
        for args: [PickleValue] in [[.int(Int.min), .int(Int.max)], [.int(0), .int(Int.min), .int(-1)], [.int(Int.min), .int(0), .int(-1)]] {
            let v = try PickleReader.loads(PickleWriter.dumps(.object(cls: "builtins.range", args: args, state: nil)))
            #expect(v == .object(cls: "builtins.range", args: args, state: nil))
        }
        // A short range still reads as its elements.
        let short = try PickleReader.loads(PickleWriter.dumps(.object(cls: "builtins.range", args: [.int(3)], state: nil)))
        #expect(short == .list([.int(0), .int(1), .int(2)]))
    }
}


/// Deterministic fuzzing of what a hub sends: its pickles and its JSON records. Each case decodes or is refused with an
/// error; none traps (a trap ends the whole test process, so a pass means none did).
@Suite("Fuzz: pickles and hub records")
struct HubFuzzTests {
    /// Every opcode the reader knows, and a few it does not.
    static let opcodes: [UInt8] = Array("(0123NKMJIG FXVCBUTSL)tl]}da\u{81}Rbcqrphjgseu.".utf8)
        + [0x80, 0x95, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x96, 0x85, 0x86, 0x87, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94,
            0x97, 0x98, 0xFF]

    static func randomArgument(_ rng: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return []
        case 1: return [UInt8.random(in: 0...255, using: &rng)]
        case 2: return [0xFF, 0xFF, 0xFF, 0x7F]
        case 3: return [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        case 4: return Array("12\n".utf8)
        default: return (0..<Int.random(in: 0...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
    }

    @Test("a pickle nested 200,000 deep (400 KB) is refused, not a stack overflow when it is freed")
    func deepNesting() {
        for open in [UInt8(ascii: "]"), UInt8(ascii: ")")] {
            let n = 200_000
            let inner: [UInt8] = open == UInt8(ascii: "]") ? [UInt8(ascii: "a")] : [0x85]
            var p: [UInt8] = [0x80, 2] + Array(repeating: UInt8(ascii: "]"), count: 1)
            if open == UInt8(ascii: "]") {
                p += Array(repeating: open, count: n) + Array(repeating: inner[0], count: n)
            } else {
                p += Array(repeating: 0x85, count: n)  // ((((([],),),),)...)
            }
            p.append(UInt8(ascii: "."))
            let e = #expect(throws: PickleError.self) { try PickleReader.loads(p) }
            #expect(e?.message.contains("nested over \(PickleReader.maxDepth) deep") == true, "\(String(describing: e?.message))")
        }
        // Through the memo too: a value fetched again keeps its depth.
        var p: [UInt8] = [0x80, 2, UInt8(ascii: "]")]
        for _ in 0..<300 { p += [0x94, 0x85] }
        p.append(UInt8(ascii: "."))
        #expect(throws: PickleError.self) { try PickleReader.loads(p) }
        // Real values nest a little: fine.
        var ok: [UInt8] = [0x80, 2, UInt8(ascii: "]")]
        for _ in 0..<50 { ok.append(0x85) }
        ok.append(UInt8(ascii: "."))
        #expect((try? PickleReader.loads(ok)) != nil)
    }

    @Test("fuzz: random opcode streams decode or are refused (20,000 cases, seeded)")
    func randomOpcodes() {
        var rng = SplitMix64(seed: 0xB1C4)
        var decoded = 0
        for _ in 0..<20_000 {
            var p: [UInt8] = Bool.random(using: &rng) ? [0x80, UInt8.random(in: 0...5, using: &rng)] : []
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                p.append(Self.opcodes.randomElement(using: &rng)!)
                if Bool.random(using: &rng) { p += Self.randomArgument(&rng) }
            }
            if Bool.random(using: &rng) { p.append(UInt8(ascii: ".")) }
            if let v = try? PickleReader.loads(p) {
                decoded += 1
                _ = v.repr
                _ = v.json
            }
        }
        #expect(decoded > 0, "some streams make values")
    }

    @Test("fuzz: valid pickles with bytes changed, inserted or cut decode or are refused (20,000 cases, seeded)")
    func mutatedPickles() throws {
        let valid: [[UInt8]] = [
            PickleTests.bytes(PickleTests.completed2), PickleTests.bytes(PickleTests.completed4),
            PickleTests.bytes(PickleTests.mixed2), PickleTests.bytes(PickleTests.mixed5),
            PickleWriter.dumps(PickleTests.mixedValue),
        ]
        for v in valid { _ = try PickleReader.loads(v) }
        var rng = SplitMix64(seed: 0x9111)
        for _ in 0..<20_000 {
            var p = valid.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<p.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: p[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: p.insert(Self.opcodes.randomElement(using: &rng)!, at: at)
                case 2: p.removeSubrange(at...)
                default: p.replaceSubrange(at..<min(p.count, at + 4), with: [0xFF, 0xFF, 0xFF, 0x7F])
                }
                if p.isEmpty { break }
            }
            if let v = try? PickleReader.loads(p) {
                _ = v.repr
                _ = v.json
            }
        }
    }

    static func randomJSON(_ rng: inout SplitMix64, depth: Int = 0) -> JSON {
        switch Int.random(in: 0..<(depth > 2 ? 7 : 9), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .integer([Int64.max, Int64.min, -1, 0, 1, 3].randomElement(using: &rng)!)
        case 3: return .number([Double.greatestFiniteMagnitude, -1e300, 0.5, 1e15, -0.0].randomElement(using: &rng)!)
        case 4:
            return .string(
                ["", "x", "2026-11-29T10:00:00Z", "9999-12-31T23:59:60.999999999+99:99", "0000-01-01T00:00:00-00:00",
                    "\u{1B}[2J", "ok", "error"].randomElement(using: &rng)!)
        case 5, 6: return .string(String(repeating: "9", count: Int.random(in: 0...30, using: &rng)))
        case 7:
            return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) })
        default:
            let keys = HubQuery.recordKeys + ["status", "ename", "evalue", "traceback", "retries", "label", "session", "date"]
            var o: [String: JSON] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &rng) { o[keys.randomElement(using: &rng)!] = randomJSON(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    @Test("fuzz: hub db_reply records with hostile fields and buffer counts parse or are skipped (3,000 cases, seeded)")
    func hubRecords() {
        var rng = SplitMix64(seed: 0x4B0B)
        let pickles: [[UInt8]] = [
            PickleWriter.dumps(.int(9)), PickleWriter.dumps(.global(module: "subprocess", name: "run")),
            PickleWriter.dumps(.dict([PickleEntry(.string("nargs"), .int(-5)), PickleEntry(.string("narg_bufs"), .int(-5))])),
            PickleWriter.dumps(.dict([PickleEntry(.string("nargs"), .int(Int.max)), PickleEntry(.string("narg_bufs"), .int(Int.max))])),
            [0xFF], [],
        ]
        let counts: [JSON] = [.integer(Int64.max), .integer(Int64.min), .integer(-1), .integer(0), .integer(2), .number(1e300), .string("3"), .null]
        for _ in 0..<3000 {
            var records: [JSON] = []
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                var r = Self.randomJSON(&rng, depth: 1)
                if case .object(var o) = r, Bool.random(using: &rng) {
                    o["msg_id"] = .string("m\(records.count)")
                    r = .object(o)
                }
                records.append(r)
            }
            func lens() -> JSON { .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in counts.randomElement(using: &rng)! }) }
            let content: JSON = ["status": "ok", "records": .array(records), "buffer_lens": lens(), "result_buffer_lens": lens()]
            let buffers = (0..<Int.random(in: 0...6, using: &rng)).map { _ in pickles.randomElement(using: &rng)! }
            for rec in HubRecord.parse(dbReply: content, buffers: buffers) {
                _ = rec.call?.text
                _ = rec.result?.repr
            }
        }
    }
}
