import Foundation
import Testing

@testable import PPKit
@testable import PPSource

@Suite("A dashboard run's finished output leaves memory: spilled to the spool, read back on demand")
struct SpillOutputTests {
    @Test("outputs under the spool's start are written to it and released; tiny ones stay; the view reads them back")
    func spilledAndReadBack() throws {
        let dir = NSTemporaryDirectory() + "ppdash-spill-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 2)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.flags.spoolDirectory = dir
        // 3 KiB to stdout (kept in memory only: under the 8 KiB spool start), 40 KiB (spooled as it ran), 5 bytes.
        let ar = try view.submit(
            Sweep.parse(line: "head -c {} /dev/zero | tr '\\0' x; echo {} >&2 ::: 3000 40000 4"))
        _ = try ar.get(timeout: 60)
        let before = client.scheduler.retainedOutputBytes()
        #expect(before == 3000 + 40000 + 4 + 5 + 6 + 2)
        #expect(!FileManager.default.fileExists(atPath: dir + "/\(ar.msgIds[0]).out"), "3 KiB: not spooled while running")
        for id in ar.msgIds { client.scheduler.spillOutput(id) }
        // What stays: the tiny streams (at most `spillAtLeast` bytes each), nothing else.
        #expect(client.scheduler.retainedOutputBytes() == 4 + 5 + 6 + 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/\(ar.msgIds[0]).out")) == Data(repeating: UInt8(ascii: "x"), count: 3000))
        let source = LocalSource(client: client)
        let m = try #require(source.metadata(ar.msgIds[0]))
        #expect(m.stdout.bytes == Array(repeating: UInt8(ascii: "x"), count: 3000) && m.stderr.text == "3000\n")
        let big = try #require(source.metadata(ar.msgIds[1]))
        #expect(big.stdout.totalBytes == 40000 && big.stdout.bytes.count == 40000)
        // Spilling again changes nothing; a task's record (status, exit) is untouched.
        for id in ar.msgIds { client.scheduler.spillOutput(id) }
        #expect(client.scheduler.retainedOutputBytes() == 4 + 5 + 6 + 2)
        #expect(client.scheduler.metadata(ar.msgIds[0])?.status == .ok)
    }

    @Test("no spool directory: nothing is released (no file would hold it)")
    func keptWithoutASpool() throws {
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().submit(Sweep.parse(line: "head -c {} /dev/zero ::: 3000"))
        _ = try ar.get(timeout: 60)
        #expect(client.scheduler.spillOutput(ar.msgIds[0]) == false)
        #expect(client.scheduler.retainedOutputBytes() == 3000)
    }
}
