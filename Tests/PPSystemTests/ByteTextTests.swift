// ByteText: bytes that are not UTF-8 kept in a String and given back exactly.
import Glibc
import PPSystem
import Testing

@Suite("ByteText: text that is bytes")
struct ByteTextTests {
    @Test("each of the 256 single bytes, alone and between ASCII, comes back exactly")
    func singleBytes() {
        for b in 0...255 {
            let byte = UInt8(b)
            for bytes in [[byte], [0x61, byte, 0x62]] {
                let s = ByteText.decode(bytes)
                #expect(ByteText.bytes(of: s) == bytes, "byte \(b)")
                // A byte is escaped exactly when it is not UTF-8 by itself (0x80-0xFF).
                #expect(ByteText.hasEscapes(s) == (byte >= 0x80), "byte \(b)")
            }
        }
    }

    @Test("random byte strings (mostly invalid UTF-8, some valid) come back exactly")
    func randomBytes() {
        var rng = SystemRandomNumberGenerator()
        let pieces: [[UInt8]] = [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xED, 0xA0, 0x80]]
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...24, using: &rng) {
                if Bool.random(using: &rng) {
                    bytes.append(UInt8.random(in: 0...255, using: &rng))
                } else {
                    bytes += pieces.randomElement(using: &rng)!
                }
            }
            let s = ByteText.decode(bytes)
            #expect(ByteText.bytes(of: s) == bytes, "\(bytes)")
            // What a reader of text sees is valid text of no more characters than there were bytes.
            #expect(ByteText.lossy(s).unicodeScalars.allSatisfy { !ByteText.reserved.contains($0.value) })
        }
    }

    @Test("valid UTF-8 is itself; a genuine U+10FF80...U+10FFFF is escaped too and still comes back")
    func validUnchanged() {
        for text in ["", "plain", "café ü €", "😀 日本語", "a\u{0}b", "\u{10FF7F}", "\u{FFFD}"] {
            let s = ByteText.decode(Array(text.utf8))
            #expect(s == text)
            #expect(!ByteText.hasEscapes(s))
            #expect(ByteText.bytes(of: s) == Array(text.utf8))
            #expect(ByteText.lossy(s) == text)
        }
        let top = Array("x\u{10FFFF}y\u{10FF80}".utf8)
        let s = ByteText.decode(top)
        #expect(ByteText.bytes(of: s) == top)
        #expect(ByteText.lossy(s) == "x" + String(repeating: "\u{FFFD}", count: 4) + "y" + String(repeating: "\u{FFFD}", count: 4))
    }

    @Test("lossy shows U+FFFD per stray byte; withCString gives the bytes to C")
    func lossyAndC() {
        let s = ByteText.decode([0x63, 0x61, 0x66, 0xE9, 0x2E, 0x74])
        #expect(ByteText.lossy(s) == "caf\u{FFFD}.t")
        let viaC: [UInt8] = ByteText.withCString(s) { p in
            Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
        }
        #expect(viaC == [0x63, 0x61, 0x66, 0xE9, 0x2E, 0x74])
        let back = ByteText.withCString(s) { ByteText.decode(cString: $0) }
        #expect(back == s)
    }

    @Test("a spawned child gets argv bytes exactly (Spawn goes through ByteText)")
    func spawnArgv() throws {
        let arg: [UInt8] = [0x61] + Array(0x80...0xFF).map(UInt8.init) + [0x62]
        let child: ChildProcess
        let out: OwnedDescriptor
        do {
            let pipe = try OwnedDescriptor.pipe()
            child = try SpawnPlan(
                executable: "/usr/bin/printf", arguments: ["printf", "%s", ByteText.decode(arg)],
                descriptors: [.copy(pipe.write.raw, to: 1)]
            ).spawn()
            out = pipe.read  // our write end closes here
        }
        var got: [UInt8] = []
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buf.deallocate() }
        while let n = try? out.fd.read(into: buf), n > 0 { got += buf[0..<n] }
        _ = child.wait()
        #expect(got == arg)
    }
}
