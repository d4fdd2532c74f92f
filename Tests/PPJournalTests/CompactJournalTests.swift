// Journal format 2: ranges of submitted tasks, compact completed lines, started lines that wait for their completion;
// format 1 still read, the same.
import Foundation
import PPJSON
import PPKit
import PPSource
import Synchronization
import Testing

@testable import PPJournal

import Glibc

@Suite("Journal format 2", .serialized)
struct CompactJournalTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    @Test func noOpTasksCostAtMost200BytesEachAndReadBackWhole() throws {
        // `n` no-op tasks on 2 engines through a writer that gathers completions (no printer).
        let j = try JournaledClient("n.jsonl", engines: 2, kind: "bench", gatherCompleted: true)
        defer { j.close() }
        j.announceEngines()
        j.feedEvents()
        let n = 3000
        let ar = try j.client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        #expect(ar.wait(timeout: 30))
        j.finish()
        let path = j.path
        var st = stat()
        #expect(stat(path, &st) == 0)
        let perTask = Double(st.st_size) / Double(n)
        #expect(perTask <= 200, "\(perTask) bytes per no-op task")

        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first?.hasPrefix("{\"ppdash_journal\":2,") == true)
        // Submitted events share lines (ranges); completions are one line each.
        let submittedLines = lines.filter { $0.contains("\"event\":\"submitted\"") }
        #expect(submittedLines.count < 10, "\(submittedLines.count) submitted lines for \(n) tasks")
        #expect(submittedLines.contains { $0.contains("\"to\":") })
        #expect(lines.filter { $0.contains("\"event\":\"completed\"") }.count == n)

        let c = try JournalReader.read(path)
        #expect(c.warnings.isEmpty, "\(c.warnings)")
        #expect(c.tasks.count == n)
        #expect(c.tasks.allSatisfy { $0.status == .ok })
        #expect(c.tasks.map(\.seq) == Array(1...n))
        #expect(c.tasks.allSatisfy { $0.command == "noop" && $0.args.isEmpty })
        // The host left out of completed lines comes from the engine's line.
        #expect(c.tasks.allSatisfy { $0.engine != nil && $0.host == SystemFacts.hostName })
        #expect(c.tasks.allSatisfy { t in
            guard let s = t.started, let e = t.completed else { return false }
            return t.submitted <= s && s <= e
        })
        #expect(c.isFinished && c.counts.ok == n)
    }

    @Test func rangesAreReadAndBoundedNeverATrap() throws {
        let range = "{\"event\":\"submitted\",\"id\":3,\"to\":5,\"batch\":1,\"seq\":1,\"command\":\"noop\"}"
        let done = "{\"event\":\"completed\",\"id\":4,\"command\":\"noop\",\"engine\":0,\"status\":\"ok\",\"submitted_us\":1764410000000000,\"started_us\":1764410000000005,\"completed_us\":1764410000000007}"
        let c = try parse([headerLine(), "{\"event\":\"engine\",\"engine\":0,\"kind\":\"local\",\"host\":\"h9\"}", range, done])
        #expect(c.tasks.map(\.key) == ["3", "4", "5"])
        #expect(c.tasks.map(\.seq) == [1, 2, 3])
        #expect(c.tasks.map(\.status) == [.pending, .ok, .pending])
        #expect(c.tasks[1].host == "h9" && c.tasks[1].outcome?.engineHost == "h9")
        #expect(c.tasks[1].started == Timestamp(microseconds: 1_764_410_000_000_005))
        #expect(c.tasks[1].completed == Timestamp(microseconds: 1_764_410_000_000_007))
        #expect(c.warnings.isEmpty)

        // Too long a range, a range backwards, a range with arguments or an attempt: damaged lines, skipped.
        let max = JournalEvent.maxRange
        let bad = [
            "{\"event\":\"submitted\",\"id\":1,\"to\":\(1 + max),\"batch\":1,\"seq\":1,\"command\":\"x\"}",
            "{\"event\":\"submitted\",\"id\":1,\"to\":281474976710656,\"batch\":1,\"seq\":1,\"command\":\"x\"}",
            "{\"event\":\"submitted\",\"id\":9,\"to\":2,\"batch\":1,\"seq\":1,\"command\":\"x\"}",
            "{\"event\":\"submitted\",\"id\":1,\"to\":3,\"batch\":1,\"seq\":1,\"command\":\"x\",\"args\":[\"a\"]}",
            "{\"event\":\"submitted\",\"id\":1,\"to\":3,\"batch\":1,\"seq\":1,\"command\":\"x\",\"attempt\":2}",
            "{\"event\":\"submitted\",\"id\":1,\"to\":\"3\",\"batch\":1,\"seq\":1,\"command\":\"x\"}",
            "{\"event\":\"completed\",\"id\":1,\"status\":\"ok\",\"started_us\":-5}",
            "{\"event\":\"completed\",\"id\":1,\"status\":\"ok\",\"completed_us\":1e300}",
        ]
        let d = try parse([headerLine()] + bad)
        #expect(d.tasks.isEmpty)
        #expect(d.warnings.count == bad.count, "\(d.warnings)")
        #expect(d.warnings.allSatisfy { $0.contains("is damaged") }, "\(d.warnings)")
    }

    @Test func startedLinesOfRunningTasksReachTheFileAtFlush() throws {
        let j = try JournaledClient("s.jsonl", engines: 1, gatherCompleted: true)
        defer { j.close() }
        let (path, client, writer) = (j.path, j.client, j.writer)
        j.feedEvents()
        // A closure task (no process group: its started line may wait) that runs until a go flag is set.
        let go = Atomic<Bool>(false)
        let view = client.loadBalancedView()
        let ar = try view.applyAsync { () -> Int in
            while !go.load(ordering: .acquiring) { usleep(1000) }
            return 1
        }
        let deadline = SystemTime.monotonicSeconds() + 10
        while client.scheduler.totals.running == 0 && SystemTime.monotonicSeconds() < deadline { usleep(1000) }
        client.scheduler.flushEvents()
        writer.flush()
        let mid = try JournalReader.read(path)
        #expect(mid.tasks.map(\.status) == [.running], "a view reading the journal sees the task run")
        go.store(true, ordering: .releasing)
        _ = try ar.get()
        j.finish()
        let end = try JournalReader.read(path)
        #expect(end.tasks.map(\.status) == [.ok])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.components(separatedBy: "\"event\":\"started\"").count == 2, "one started line, written once")
    }

    /// Every fixture of format 1, its lines re-encoded by this writer (format 2), reads as the original does.
    @Test func formatOneJournalsReadTheSameReencodedAsFormatTwo() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["mixed.jsonl", "halt.jsonl", "resumed.jsonl"] {
            let original = Self.fixtures + "/" + name
            let v1 = try JournalReader.read(original, requireOwner: false)
            let text = try String(contentsOfFile: original, encoding: .utf8)
            #expect(text.hasPrefix("{\"ppdash_journal\":1,"))
            var out = ""
            for line in text.split(separator: "\n") {
                let event = try #require(JournalEvent(json: try JSONValue.parse(Array(line.utf8))), "\(line)")
                out += event.line + "\n"
            }
            #expect(out.hasPrefix("{\"ppdash_journal\":2,"))
            let copy = dir + "/" + name
            try out.write(toFile: copy, atomically: true, encoding: .utf8)
            let v2 = try JournalReader.read(copy)
            #expect(v2.tasks.count == v1.tasks.count, "\(name)")
            for (a, b) in zip(v1.tasks, v2.tasks) {
                #expect(a.key == b.key && a.status == b.status && a.seq == b.seq && a.batch == b.batch, "\(name) \(a.key)")
                #expect(a.command == b.command && a.args == b.args && a.retries == b.retries, "\(name) \(a.key)")
                #expect(a.started == b.started && a.completed == b.completed && a.host == b.host, "\(name) \(a.key)")
                #expect(a.outcome == b.outcome, "\(name) \(a.key)")
                #expect(a.attempt == b.attempt && a.run == b.run, "\(name) \(a.key)")
            }
            #expect(v2.lastRun.endReason == v1.lastRun.endReason)
            #expect(v2.warnings == [], "\(v2.warnings)")
        }
    }

    /// A journal written by this ppdash (format 2, Fixtures/make-fixtures.sh): read as the run ended.
    @Test func aFormatTwoFixtureIsRead() throws {
        let path = Self.fixtures + "/mixed-v2.jsonl"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("{\"ppdash_journal\":2,"))
        let c = try JournalReader.read(path, requireOwner: false)
        #expect(c.warnings.isEmpty, "\(c.warnings)")
        #expect(c.tasks.map(\.status) == [.ok, .ok, .ok, .error, .timeout, .error, .ok])
        #expect(c.tasks.map(\.retries) == [0, 0, 0, 1, 1, 1, 1])
        #expect(c.tasks[1].outcome?.stdout == "quote\" back\\ tab\tend\n")
        #expect(c.tasks[2].outcome?.stdout == "unicode é 😀 ∑\n")
        #expect(c.tasks[3].outcome?.exit == 3 && c.tasks[4].outcome?.signal == 15)
        #expect(c.tasks[5].outcome?.signal == 9 && c.tasks[6].outcome?.stdout == "second\n")
        #expect(c.tasks.allSatisfy { $0.host != nil && $0.started != nil && $0.completed != nil })
        #expect(c.isFinished && c.lastRun.engines.count == 2)
        let g = try JournalListing.glance(path)
        #expect(g.damaged.isEmpty && g.counts == c.counts && g.endReason == c.lastRun.endReason)
    }
}
