import Foundation
import Testing

@testable import PPKit
@testable import PPSource

@Suite("The dashboard's source: finished output leaves memory and is read back from disk")
struct OutputReadBackTests {
    @Test("a batch's printed, spooled outputs: no output bytes retained by the source's scheduler, the detail reads them back")
    func retainedBytes() throws {
        let dir = NSTemporaryDirectory() + "ppdash-dashb-spool-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 2)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.flags.maxOutput = 1000
        view.flags.spoolDirectory = dir
        let ar = try view.submit(Sweep.parse(line: "seq 1 {}; seq 1 {} >&2 ::: 20000 20001 20002 20003"))
        _ = try ar.get(timeout: 60)
        let source = LocalSource(client: client)
        // While held: each stream keeps its head and tail (1000 bytes), 8 streams.
        #expect(client.scheduler.retainedOutputBytes() == 8 * 1000)
        // Printed (the run's printer releases each task once it is on disk and printed).
        for i in 0..<4 { client.scheduler.releaseOutput(ar.msgIds[i]) }
        #expect(client.scheduler.retainedOutputBytes() == 0)
        // The view still shows the output: read back from the spool file, head and tail, bounded.
        let m = try #require(source.metadata(ar.msgIds[3]))
        #expect(!m.stdout.released)
        #expect(m.stdout.bytes.count <= 65536)
        #expect(m.stdout.text.hasPrefix("1\n2\n3\n"))
        #expect(m.stdout.text.hasSuffix("20002\n20003\n"))
        #expect(m.stdout.totalBytes == Array((1...20003).map { "\($0)\n" }.joined().utf8).count)
        #expect(m.stderr.text.hasSuffix("20003\n"))
        // Reading it back keeps nothing: the scheduler still holds no output.
        #expect(client.scheduler.retainedOutputBytes() == 0)
        // A spool file gone: the view says the output was released rather than inventing any.
        try FileManager.default.removeItem(atPath: try #require(m.stdout.spool))
        let gone = try #require(source.metadata(ar.msgIds[3]))
        #expect(gone.stdout.released && gone.stdout.bytes.isEmpty)
    }
}
