import NIOCore
import Testing
import PPSystem

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
    // A piece of a running task's output: any bytes, either stream.
    .output(task: 17, stream: 0, bytes: [0, 0xFF, 10, 0x1B, 0x80]),
    .output(task: 18, stream: 1, bytes: []),
    // Version 3: a result's resource use, a worker's meters.
    .result({
        var r = WireResult(task: 7, status: .ok, value: .shell, started: 1, completed: 2)
        r.usage = ResourceUsage(userSeconds: 1.25, systemSeconds: 0.5, maxRSSBytes: 3 << 20)
        return r
    }()),
    .load(WireLoad(host: HostLoad(load1: 3.5, availableBytes: 1 << 30, totalBytes: 4 << 30, cpus: 8))),
    .load(
        WireLoad(
            host: HostLoad(load1: 0, availableBytes: 0, totalBytes: 0, cpus: 0), taskCPUPercent: 199.5,
            taskRSSBytes: 12345)),
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

    /// Why a decoded message breaks a bound a peer's values must keep, or nil.
    static func outOfBounds(_ m: WireMessage) -> String? {
        switch m {
        case .hello(let h):
            if h.pid < 0 || h.cores < 0 || h.cores > WireProtocol.maxCores { return "pid or cores" }
            if h.host.utf8.count > WireProtocol.maxHostBytes { return "host length" }
            if h.host.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "host control" }
        case .welcome(let w):
            if !WireProtocol.heartbeatMillis.contains(w.heartbeatMillis) { return "heartbeat" }
        case .run(let r):
            if let l = r.runTimeLimit, !(l > 0 && l <= WireProtocol.longestSeconds) { return "run-time limit" }
            if r.maxOutput < 0 || r.slot < 0 { return "max output or slot" }
            if case .builtin(.sleepSquare(_, let s)) = r.work, !(s >= 0 && s <= WireProtocol.longestSeconds) { return "sleep" }
        case .started(_, let at, let group):
            if !WireProtocol.timestamps.contains(at) || group < 0 { return "started" }
        case .result(let r):
            if !WireProtocol.timestamps.contains(r.started) || !WireProtocol.timestamps.contains(r.completed) { return "timestamps" }
            if r.stdout.droppedBytes > Int(WireProtocol.maxDroppedBytes) || r.stderr.droppedBytes > Int(WireProtocol.maxDroppedBytes)
                || r.stdout.droppedBytes < 0 || r.stderr.droppedBytes < 0
            {
                return "dropped bytes"
            }
            if let e = r.exitStatus, !WireProtocol.statusByte.contains(e) { return "exit status" }
            if let g = r.signal, !WireProtocol.statusByte.contains(g) { return "signal" }
            if let u = r.usage, !(u.userSeconds >= 0 && u.systemSeconds >= 0 && (u.maxRSSBytes ?? 0) >= 0) { return "usage" }
        case .output(_, let stream, let bytes):
            if stream > 1 || bytes.count > WireProtocol.maxOutputChunk { return "output stream or size" }
        case .load(let l):
            if !(l.host.load1.isFinite && l.host.load1 >= 0) || l.host.availableBytes < 0 || l.host.cpus < 0 { return "load" }
            if let c = l.taskCPUPercent, !(c.isFinite && c >= 0) { return "task cpu" }
            if let m = l.taskRSSBytes, m < 0 { return "task rss" }
        case .challenge, .cancel, .heartbeat, .bye:
            break
        }
        return nil
    }

    /// Decodes `frame`: a message within bounds that re-encodes to the same bytes, or a WireError; never a trap.
    static func decodeChecked(_ frame: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        var b = frame
        do {
            guard let m = try FrameParser(limit: 1 << 20).next(&b) else { return false }
            if let why = outOfBounds(m) {
                Issue.record("decoded out of bounds (\(why)): \(m)", sourceLocation: sourceLocation)
            }
            var again = m.frame
            #expect(try FrameParser(limit: 1 << 20).next(&again) == m, sourceLocation: sourceLocation)
            return true
        } catch {
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
            return false
        }
    }

    @Test("fuzz: every field of every message overwritten with edge values (0, -1, MIN, MAX, NaN) decodes in bounds or is refused")
    func fuzzFieldEdges() {
        let patterns: [[UInt8]] = [
            [0x00], [0xFF], [0x7F], [0x80],
            [0x00, 0x00], [0xFF, 0xFF],
            [0x00, 0x00, 0x00, 0x00], [0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0x00, 0x00, 0x00],
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            Array(withUnsafeBytes(of: Double.nan.bitPattern.bigEndian) { Array($0) }),
            Array(withUnsafeBytes(of: Double.infinity.bitPattern.bigEndian) { Array($0) }),
            Array(withUnsafeBytes(of: (-1.0).bitPattern.bigEndian) { Array($0) }),
            Array(withUnsafeBytes(of: (1e300).bitPattern.bigEndian) { Array($0) }),
            [0x1B],
        ]
        var cases = 0
        var decoded = 0
        for message in sampleMessages {
            let frame = message.frame
            // After the length, version and kind: every body offset, every pattern.
            for at in 6..<frame.readableBytes {
                for pattern in patterns where at + pattern.count <= frame.readableBytes {
                    var mutated = frame
                    mutated.setBytes(pattern, at: frame.readerIndex + at)
                    cases += 1
                    if Self.decodeChecked(mutated) { decoded += 1 }
                }
            }
        }
        #expect(cases > 5000)
        #expect(decoded > 0 && decoded < cases, "\(decoded) of \(cases) decoded")
    }

    static func randomMessage(_ rng: inout SplitMix64) -> WireMessage {
        func i64() -> Int64 {
            [Int64.max, .min, -1, 0, 1, 1_700_000_000_000_000, WireProtocol.timestamps.upperBound,
                WireProtocol.timestamps.upperBound + 1, WireProtocol.maxDroppedBytes, WireProtocol.maxDroppedBytes + 1,
                Int64.random(in: .min ... .max, using: &rng)].randomElement(using: &rng)!
        }
        func i32() -> Int32 { [Int32.max, .min, -1, 0, 1, 255, 256, Int32.random(in: .min ... .max, using: &rng)].randomElement(using: &rng)! }
        func dbl() -> Double { [.nan, .infinity, -.infinity, -1, 0, 1e-300, 0.5, 1e9, 1e9 + 1, 1e300].randomElement(using: &rng)! }
        func str() -> String {
            ["", "node7", "\u{1B}[2J", String(repeating: "h", count: 300), "héllo", "a\u{0}b"].randomElement(using: &rng)!
        }
        func bytes() -> [UInt8] { (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        func status() -> TaskStatus { [.ok, .error, .timeout, .aborted].randomElement(using: &rng)! }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return .hello(WireHello(host: str(), pid: i32(), cores: i32(), nonce: bytes(), proof: bytes()))
        case 1: return .challenge(nonce: bytes())
        case 2: return .welcome(WireWelcome(heartbeatMillis: [0, 1, 1000, 3_600_001, .max].randomElement(using: &rng)!, proof: bytes()))
        case 3:
            let work: WireRun.Work =
                Bool.random(using: &rng) ? .shell(command: str()) : .builtin(.sleepSquare(x: Int(i64()), seconds: dbl()))
            return .run(
                WireRun(
                    task: i64(), work: work, runTimeLimit: Bool.random(using: &rng) ? dbl() : nil, maxOutput: i64(), slot: i32(),
                    workingDirectory: Bool.random(using: &rng) ? str() : nil,
                    environment: Bool.random(using: &rng) ? [WireVariable(name: str(), value: str())] : []))
        case 4: return .started(task: i64(), at: i64(), processGroup: i32())
        case 5:
            return .result(
                WireResult(
                    task: i64(), settledOnly: Bool.random(using: &rng), status: status(), error: Bool.random(using: &rng) ? str() : nil,
                    stdout: CapturedOutput(text: str(), droppedBytes: Int(i64())),
                    stderr: CapturedOutput(text: str(), droppedBytes: Int(i64())),
                    exitStatus: Bool.random(using: &rng) ? i32() : nil, signal: Bool.random(using: &rng) ? i32() : nil,
                    value: [.none, .integer, .shell].randomElement(using: &rng)!, integer: i64(), started: i64(), completed: i64()))
        case 6: return .cancel(task: i64(), reason: Bool.random(using: &rng) ? .aborted : .runTimeLimit)
        case 7: return .heartbeat
        case 8: return .output(task: i64(), stream: [0, 1, 2, 255].randomElement(using: &rng)!, bytes: bytes())
        default: return .bye(reason: str(), graceful: Bool.random(using: &rng))
        }
    }

    @Test("fuzz: messages built with random edge values in every field decode in bounds or are refused (10,000, seeded)")
    func fuzzRandomFields() {
        var rng = SplitMix64(seed: 0xF1E1D)
        var decoded = 0
        var refused = 0
        for _ in 0..<10_000 {
            if Self.decodeChecked(Self.randomMessage(&rng).frame) { decoded += 1 } else { refused += 1 }
        }
        #expect(decoded > 500 && refused > 500, "\(decoded) decoded, \(refused) refused")
    }
}
