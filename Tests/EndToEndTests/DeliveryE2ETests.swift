// Observers run on the scheduler's delivery thread: a stdout nobody reads stalls the printing, never the engines.
import Foundation
import Testing

@Suite("event delivery")
struct DeliveryE2ETests {
    @Test("stdout blocked for 10 s: proc engines with a 0.1 s heartbeat stay alive and the batch goes on")
    func blockedStdout() async throws {
        let bin = try #require(PPDash.path, Comment(rawValue: PPDash.notFound))
        let dir = TempDir()
        defer { dir.remove() }
        // Each task prints 8 KiB: the 64 KiB pipe fills after a few; its reader drains it only once the test says so.
        let task = "head -c 8192 /dev/zero | tr '\\0' x; echo; touch \(shellQuote(dir.path))/done-{}"
        let script = """
            { \(shellQuote(bin)) run -e proc:2 --heartbeat 0.1 --no-journal -- \(shellQuote(task)) ::: 1..40 \
              2>\(shellQuote(dir.file("err"))); echo $? >\(shellQuote(dir.file("status"))); } \
            | { n=0; while [ ! -e \(shellQuote(dir.file("release"))) ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; \
                wc -c >\(shellQuote(dir.file("bytes"))); }
            """
        let child = Child.start(["/bin/sh", "-c", script], env: PPDash.baseEnvironment, timeout: 60)
        // Every task runs while nobody reads stdout, and stdout stays blocked for 10 s at least (an engine missing 5
        // heartbeats, 0.5 s, would be declared dead).
        let start = Date()
        let deadline = start.addingTimeInterval(40)
        var done = 0
        while Date() < deadline {
            done = dir.contents.filter { $0.hasPrefix("done-") }.count
            if done == 40 && Date().timeIntervalSince(start) >= 10 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(done == 40, "only \(done) of 40 tasks ran while stdout was blocked")
        #expect(FileManager.default.createFile(atPath: dir.file("release"), contents: nil))
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        let err = (try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "?"
        let status = (try? String(contentsOfFile: dir.file("status"), encoding: .utf8)) ?? "?"
        let bytes = (try? String(contentsOfFile: dir.file("bytes"), encoding: .utf8)) ?? "?"
        #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "stderr: \(err)")
        #expect(!err.contains("died"), "an engine died while stdout was blocked: \(err)")
        #expect(bytes.trimmingCharacters(in: .whitespacesAndNewlines) == String(40 * 8193), "stderr: \(err)")
    }
}
