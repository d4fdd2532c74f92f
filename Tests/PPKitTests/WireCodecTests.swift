import NIOCore
import Testing

@testable import PPKit

/// One of every message kind, with awkward values.
let sampleMessages: [WireMessage] = [
    .hello(WireHello(host: "node7", pid: 4242, cores: 64, nonce: [1, 2, 3], proof: Array(repeating: 0xAB, count: 32))),
    .hello(WireHello(host: "", pid: 0, cores: 0)),
    .challenge(nonce: Array(0..<32)),
    .welcome(WireWelcome(heartbeatMillis: 1000, proof: [9, 9])),
    .run(
        WireRun(
            task: 17, work: .shell(command: "echo 'héllo' | tr a-z A-Z; exit 3"), runTimeLimit: 2.5, maxOutput: 65536,
            slot: 3, workingDirectory: "/tmp/a b",
            environment: [WireVariable(name: "A", value: "1=2"), WireVariable(name: "B", value: "")])),
    .run(
        WireRun(
            task: 1, work: .builtin(.noop), runTimeLimit: nil, maxOutput: 0, slot: 1, workingDirectory: nil,
            environment: [])),
    .run(
        WireRun(
            task: Int64.max, work: .builtin(.sleepSquare(x: -5, seconds: 0.05)), runTimeLimit: nil, maxOutput: 10,
            slot: 2,
            workingDirectory: nil, environment: [])),
    .started(task: 17, at: 1_700_000_000_123_456, processGroup: 31337),
    .started(task: 2, at: 0, processGroup: 0),
    .result(
        WireResult(
            task: 17, status: .error, error: "exit status 3", stdout: CapturedOutput(text: "HÉLLO\n", droppedBytes: 0),
            stderr: CapturedOutput(text: "tail", droppedBytes: 99), exitStatus: 3, signal: nil, value: .shell,
            started: 10,
            completed: 20)),
    // Output is bytes (any of them), cut into head and tail, with its spool file; a run names its spool directory.
    .result(
        WireResult(
            task: 18, status: .ok, stdout: CapturedOutput(bytes: [0, 0xFF, 0xFE, 10, 0x80], headCount: 2,
            droppedBytes: 1 << 40, spool: "/s/18.out"), stderr: CapturedOutput(bytes: [0xC3]), value: .shell,
            started: 1, completed: 2)),
    .run(
        WireRun(
            task: 18, work: .shell(command: "seq 1 9"), runTimeLimit: nil, maxOutput: 10, slot: 1,
            workingDirectory: nil, environment: [], spoolDirectory: "/tmp/x.spool")),
    .result(
        WireResult(task: 5, settledOnly: true, status: .timeout, error: "late", signal: 9, started: 1, completed: 2)),
    .result(WireResult(task: 6, status: .ok, value: .integer, integer: 81, started: 1, completed: 2)),
    .cancel(task: 17, reason: .aborted),
    .cancel(task: 18, reason: .runTimeLimit),
    .heartbeat,
    .bye(reason: "scheduler stopping", graceful: true),
]

@Suite("Wire protocol codec")
struct WireCodecTests {
    @Test("every message survives encode and decode")
    func roundTrip() throws {
        for m in sampleMessages {
            var b = m.frame
            let back = try FrameParser().next(&b)
            #expect(back == m)
            #expect(b.readableBytes == 0)
        }
    }

    @Test("a stream cut at any byte decodes to the same messages")
    func splitAnywhere() throws {
        var all = ByteBuffer()
        for m in sampleMessages { m.encode(into: &all) }
        let bytes = all.readableBytesView.map { $0 }
        for cut in stride(from: 0, through: bytes.count, by: 7) {
            var got: [WireMessage] = []
            var buf = ByteBuffer()
            for chunk in [bytes[..<cut], bytes[cut...]] {
                buf.writeBytes(chunk)
                while let m = try FrameParser().next(&buf) { got.append(m) }
                buf.discardReadBytes()
            }
            #expect(got == sampleMessages, "cut at \(cut)")
        }
    }

    @Test("an oversized frame is refused from its header, before its body arrives")
    func frameTooLarge() {
        var b = ByteBuffer()
        b.writeInteger(UInt32(1 << 30))
        b.writeInteger(UInt8(1))
        #expect(throws: WireError.self) { _ = try FrameParser(limit: 1 << 20).next(&b) }
        do {
            var c = ByteBuffer()
            c.writeInteger(UInt32(70_000))
            _ = try FrameParser(limit: WireProtocol.maxHandshakeFrame).next(&c)
            Issue.record("a 70 kB frame passed the handshake limit")
        } catch {
            #expect(error.code == .frameTooLarge)
            #expect(error.message.contains("70000"))
        }
    }

    @Test("another protocol version is refused with the versions named")
    func unknownVersion() {
        var frame = WireMessage.heartbeat.frame
        let other = UInt8(WireProtocol.version + 1)
        frame.setInteger(other, at: 4)
        do {
            _ = try FrameParser().next(&frame)
            Issue.record("version \(other) accepted")
        } catch {
            #expect(error.code == .unsupportedVersion)
            #expect(error.message == "protocol version \(other) (this ppdash speaks \(WireProtocol.version))")
        }
    }

    @Test("unknown kinds, trailing bytes, bad flags and short frames are malformed")
    func malformed() {
        func refuse(_ payload: [UInt8], _ fragment: String) {
            // The first byte is the version: this build's.
            var payload = payload
            if !payload.isEmpty { payload[0] = UInt8(WireProtocol.version) }
            var b = ByteBuffer()
            b.writeInteger(UInt32(payload.count))
            b.writeBytes(payload)
            do {
                let m = try FrameParser().next(&b)
                Issue.record("accepted \(payload): \(String(describing: m))")
            } catch {
                #expect(error.code == .malformed)
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
        refuse([1, 99], "unknown message type 99")
        refuse([1, 8, 0], "1 bytes left after a heartbeat message")
        refuse([1, 7, 0, 0, 0, 0, 0, 0, 0, 1, 5], "cancel reason 5")
        refuse([1, 5, 0, 0, 0, 0, 0, 0, 0, 1], "frame ends inside a field")
        refuse([1, 2, 0xFF, 0xFF, 0xFF, 0xFF], "a field of 4294967295 bytes")
        refuse([1], "too short")
        refuse([1, 9, 0, 0, 0, 1, 65, 7], "flag 7")
        refuse([1, 9, 0, 0, 0, 1, 65, 1, 0], "1 bytes left after a bye message")
    }

    @Test("fuzz: random bytes never crash the decoder; each refusal is a WireError")
    func fuzzRandomBytes() {
        var rng = SplitMix64(seed: 0x5EED)
        var decoded = 0
        var refused = 0
        for _ in 0..<3000 {
            let n = Int.random(in: 0...300, using: &rng)
            var b = ByteBuffer()
            // Half the cases get a plausible small length prefix, so the body parser is reached often.
            if Bool.random(using: &rng) {
                b.writeInteger(UInt32(n + 2))
                let v = UInt8(WireProtocol.version)
                b.writeInteger(Int.random(in: 0...3, using: &rng) == 0 ? v + 1 : v)
                b.writeInteger(UInt8.random(in: 0...10, using: &rng))
            }
            for _ in 0..<n { b.writeInteger(UInt8.random(in: 0...255, using: &rng)) }
            let parser = FrameParser(limit: 4096)
            do {
                while (try parser.next(&b)) != nil { decoded += 1 }
            } catch {
                refused += 1
                #expect([.malformed, .unsupportedVersion, .frameTooLarge].contains(error.code))
            }
        }
        #expect(refused > 1000)
    }

    @Test("fuzz: valid frames with flipped bytes decode to something or are refused")
    func fuzzMutations() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<3000 {
            var frame = sampleMessages[Int.random(in: 0..<sampleMessages.count, using: &rng)].frame
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<frame.readableBytes, using: &rng)
                frame.setInteger(UInt8.random(in: 0...255, using: &rng), at: at)
            }
            do {
                while (try FrameParser(limit: 1 << 16).next(&frame)) != nil {}
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }
}
