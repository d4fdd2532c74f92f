// `--line-buffer` with worker-process engines: a stdout nobody reads for longer than the heartbeat limit stalls no
// engine (the lines go through a printer thread, queued in memory and a file past the bound), and every line arrives
// in order once it is read.
import Foundation
import PPSystem
import Testing

import Glibc

@Suite("--line-buffer: a stalled stdout stalls no engine", .endToEndSlot, .serialized)
struct LineBufferStallE2ETests {
    @Test("proc:1, --heartbeat 0.1 (dead after 0.5 s), 6.9 MB of lines into a pipe unread until the task is journaled ok")
    func stalledStdoutKeepsTheEngineAlive() async throws {
        let bin = try #require(PPDash.path, "ppdash binary")
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        // The pipe's reader waits for GO: until then ppdash's stdout is full after 64 KiB. The task goes on for 1 s
        // after its output (twice the heartbeat limit) with its engine's link busy delivering heartbeats.
        let ppdash =
            [bin, "run", "--journal", journal, "--heartbeat", "0.1", "-e", "proc:1", "--line-buffer", "--",
             "seq 1 1000000; sleep 1; echo {}-end", ":::", "t"].map(shellQuote).joined(separator: " ")
        let script = "\(ppdash) | { while [ ! -e \(shellQuote(dir.file("GO"))) ]; do sleep 0.05; done; cat > \(shellQuote(dir.file("out"))); }"
        let child = Child.start(["sh", "-c", script], env: PPDash.baseEnvironment, timeout: 120)
        // The task is recorded ok while nothing reads stdout: the engine was not declared dead.
        let deadline = now() + 90
        var text = ""
        while now() < deadline {
            text = (try? String(contentsOfFile: journal, encoding: .utf8)) ?? ""
            if text.contains("\"event\":\"completed\"") || child.result != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(text.contains("\"status\":\"ok\""), "completed ok while stdout was stalled:\n\(clip(text))")
        #expect(!text.contains("engine_died"), "no engine died:\n\(clip(text))")
        #expect(child.result == nil, "ppdash still waits to write its lines")
        _ = FileManager.default.createFile(atPath: dir.file("GO"), contents: nil)
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(clip(r.err))")
        #expect(!r.err.contains("died"), "\(clip(r.err))")
        let out = (try? String(contentsOfFile: dir.file("out"), encoding: .utf8)) ?? ""
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let expected = (1...1_000_000).map(String.init) + ["t-end", ""]
        #expect(lines.count == expected.count, "\(lines.count) lines")
        let same = lines.elementsEqual(expected.lazy.map { Substring($0) })
        #expect(same, "every line, in order")
    }
}
