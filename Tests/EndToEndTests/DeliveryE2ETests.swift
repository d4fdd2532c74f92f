// Observers run on the scheduler's delivery thread: a stdout nobody reads stalls the printing, never the engines.
import Foundation
import Testing

// In the engines suite, which runs serialized: its tests look for stray `ppdash engine` processes machine-wide.
extension EnginesE2ETests {
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

@Suite("output ends right", .endToEndSlot)
struct OutputEndsE2ETests {
    @Test(
        "a closed stdout (| head -1) stops the batch as a filter: running tasks signalled, journal ended, status 141",
        arguments: [true, false])
    func closedStdout(journal: Bool) async throws {
        let bin = try #require(PPDash.path, Comment(rawValue: PPDash.notFound))
        let dir = TempDir()
        defer { dir.remove() }
        let marker = journal ? "7.25" : "7.35"
        let journalFlags = journal ? "--journal \(shellQuote(dir.file("j.jsonl")))" : "--no-journal"
        let script = """
            { \(shellQuote(bin)) run -j 3 \(journalFlags) -- 'sleep {}; seq 1 20000' \
              ::: 0.2 0.4 \(marker) 2>\(shellQuote(dir.file("err"))); echo $? >\(shellQuote(dir.file("status"))); } | head -1
            """
        let r = await run(["/bin/sh", "-c", script], env: PPDash.baseEnvironment, timeout: 30)
        #expect(r.out == "1\n", "\(r)")
        let status = (try? String(contentsOfFile: dir.file("status"), encoding: .utf8)) ?? "?"
        let err = (try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "?"
        #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "141", "exit as by SIGPIPE\(r)")
        #expect(err.contains("stdout closed"), "says why it stopped: \(err)")
        if journal {
            let text = (try? String(contentsOfFile: dir.file("j.jsonl"), encoding: .utf8)) ?? ""
            let end = text.split(separator: "\n").last.map(String.init) ?? ""
            #expect(end.contains("\"event\":\"end\"") && end.contains("stdout closed"), "journal ends saying why: \(end)")
        }
        #expect(await waitForNoProcesses(matching: "sleep \(marker)").isEmpty, "the running task was signalled")
        #expect(r.elapsed < 7, "the batch stopped instead of running on: \(r)")
    }

    @Test("a waiter returns only after the batch's output is printed: --keep-order with a blocked stdout")
    func keepOrderBehindBlockedStdout() async throws {
        let bin = try #require(PPDash.path, Comment(rawValue: PPDash.notFound))
        let dir = TempDir()
        defer { dir.remove() }
        // Task 1 finishes last and prints 300 kB (more than a pipe holds); the reader starts once the test says so.
        let task =
            "if [ {} = 1 ]; then sleep 0.3; head -c 300000 /dev/zero | tr '\\0' a; echo; else echo n{}; fi; touch \(dir.path)/t{}"
        let script = """
            \(shellQuote(bin)) run --no-journal --keep-order --max-output 1000000 -j 4 -- \(shellQuote(task)) ::: 1 2 3 4 \
              2>&1 | { while [ ! -e \(shellQuote(dir.file("go"))) ]; do sleep 0.05; done; cat; }
            """
        let child = Child.start(["/bin/sh", "-c", script], env: PPDash.baseEnvironment, timeout: 30)
        // Let every task finish while nobody reads, and give the main thread time to (wrongly) end the run: it must
        // wait for the output it has not printed yet.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (1...4).contains(where: { !dir.exists("t\($0)") }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(FileManager.default.createFile(atPath: dir.file("go"), contents: nil))
        let r = await child.wait()
        let lines = r.outLines
        #expect(lines.count == 5, "\(r)")
        #expect(lines.first == String(repeating: "a", count: 300_000), "task 1's output whole and first")
        #expect(Array(lines.dropFirst().prefix(3)) == ["n2", "n3", "n4"], "\(lines.dropFirst().prefix(3))")
        #expect(lines.last?.hasPrefix("ppdash: 4 tasks: 4 ok") == true, "the summary comes last: \(lines.last ?? "")")
    }
}
