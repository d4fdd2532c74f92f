// A `completed` line keeps a few KiB of each stream (head and tail); the spool file has the whole stream; readers
// know the copy is cut and read the rest from the spool, or say it is gone.
import Foundation
import PPJSON
import PPKit
import PPSource
import Testing

@testable import PPJournal

@Suite("Journal output cap: the line keeps a few KiB, the spool the rest", .serialized)
struct JournalOutputCapTests {
    /// Runs `tasks` (a sweep line) with a writer (as a run: the printer follows, no gathering) and a spool directory.
    func journal(_ line: String, dir: String) throws -> (path: String, client: Client, ids: [TaskID]) {
        let path = dir + "/c.jsonl"
        let client = Client(engines: 2)
        let writer = try JournalWriter(
            path: path, header: JournalHeader(kind: "run", ppdashVersion: "t", engines: ["local:2"]),
            scheduler: client.scheduler, gatherCompleted: false, warn: { Issue.record("warning: \($0)") })
        client.scheduler.addObserver { writer.record($0) }
        var view = client.loadBalancedView()
        view.flags.spoolDirectory = dir + "/spool"
        let ar = try view.submit(Sweep.parse(line: line))
        _ = try ar.get(timeout: 60)
        client.scheduler.flushEvents()
        writer.finish(reason: "done", totals: client.scheduler.totals)
        return (path, client, ar.msgIds)
    }

    @Test("100 KiB of stdout and 20 KiB of 3-byte characters on stderr: lines of a few KiB, cut counted, spools whole")
    func longStreamsAreCutInTheLineAndWholeInTheSpool() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Task 1: seq to ~100 KiB on stdout and 7000 x "€" (3 bytes) on stderr; task 2: a short line each.
        let (path, client, ids) = try journal(
            "if [ {} = big ]; then seq 1 18000; i=0; while [ $i -lt 7000 ]; do printf '€'; i=$((i+1)); done >&2;"
                + " else echo small; echo e >&2; fi ::: big small", dir: dir)
        defer { client.shutdown() }
        let stdoutWhole = Array((1...18000).map { "\($0)\n" }.joined().utf8)
        let stderrWhole = Array(String(repeating: "€", count: 7000).utf8)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let completed = text.split(separator: "\n").filter { $0.contains("\"event\":\"completed\"") }
        #expect(completed.count == 2)
        let big = try #require(completed.first { $0.contains("\"args\":[\"big\"]") })
        // The line holds about 8 KiB per stream (plus the command, its argument and the spool paths), not 120 KiB.
        #expect(big.utf8.count < 2 * JournalFormat.outputKept + 4096, "line of \(big.utf8.count) bytes")
        let j = try JSONValue.parse(Array(big.utf8))
        let outCut = try #require(j["stdout_cut"]?.int)
        let errCut = try #require(j["stderr_cut"]?.int)
        let outKept = Array((j["stdout"]?.string ?? "").utf8).count
        let errKept = Array((j["stderr"]?.string ?? "").utf8).count
        let outDropped = try #require(j["stdout_dropped"]?.int)
        // 96,894 bytes: memory kept 64 KiB (head and tail), the line 8 KiB of those; both cuts counted as dropped.
        #expect(outKept + outDropped == stdoutWhole.count && outKept <= JournalFormat.outputKept)
        #expect(outCut == 65536 - outKept && outCut < outDropped)
        // The cut never splits a character: the kept text is valid UTF-8, so no base64 copy was needed.
        #expect(j["stderr_base64"] == nil && errKept + errCut == stderrWhole.count && errKept % 3 == 0)
        #expect(j["stderr_dropped"]?.int == errCut, "the cut counts as dropped: an older reader sees a cut stream")
        // The spool files hold every byte.
        let outSpool = try #require(j["stdout_spool"]?.string)
        let errSpool = try #require(j["stderr_spool"]?.string)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: outSpool))) == stdoutWhole)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: errSpool))) == stderrWhole)
        // A short stream: kept whole in the line, no cut, no spool file.
        let small = try #require(completed.first { $0.contains("\"args\":[\"small\"]") })
        #expect(!small.contains("_cut") && !small.contains("_spool") && small.contains("\"stdout\":\"small\\n\""))
        #expect(!FileManager.default.fileExists(atPath: dir + "/spool/\(ids[1]).out"))

        // Read back (attach of an ended run): the reader knows the copy is cut and reads the rest from the spool.
        let contents = try JournalReader.read(path)
        let source = JournalSource(contents, label: "t")
        let m = try #require(source.metadata(TaskID(1)))
        #expect(m.stdout.totalBytes == stdoutWhole.count)
        #expect(m.stdout.bytes == stdoutWhole.prefix(32768) + stdoutWhole.suffix(32768), "head and tail from the spool")
        #expect(m.stderr.bytes == stderrWhole, "20 KiB: read back whole")
        // The spool gone: the cut copy, the missing bytes counted, and no file named that is not there.
        try FileManager.default.removeItem(atPath: outSpool)
        let gone = try #require(source.metadata(TaskID(1)))
        #expect(gone.stdout.spool == nil && gone.stdout.droppedBytes == outDropped && gone.stdout.bytes.count == outKept)
        #expect(gone.stdout.text.hasPrefix("1\n2\n3\n") && gone.stdout.text.hasSuffix("17999\n18000\n"))
    }

    @Test("a cut stream's head and tail stop short of a split character; a short one is unchanged")
    func cutKeepsCharactersWhole() {
        let bytes = Array(String(repeating: "é€😀", count: 100).utf8)  // 2 + 3 + 4 bytes
        for limit in [0, 1, 7, 64, 101, 500] {
            let (o, cut) = CapturedOutput(bytes: bytes, droppedBytes: 5).cut(to: limit)
            #expect(o.bytes.count <= limit && o.bytes.count + cut == bytes.count && o.droppedBytes == 5 + cut)
            #expect(o.isValidUTF8, "limit \(limit)")
        }
        let (same, none) = CapturedOutput(bytes: bytes).cut(to: bytes.count)
        #expect(none == 0 && same.bytes == bytes)
    }
}
