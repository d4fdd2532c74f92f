// The `completed` line encoded from a task's facts (the no-op's hot path) is the record's line, byte for byte; a
// shell task's resource use reaches the journal and reads back.
import Foundation
import PPJSON
import PPKit
import PPSource
import PPSystem
import Testing

@testable import PPJournal

@Suite("A completed line from the task's facts")
struct CompletedLineTests {
    /// The line the record path writes (`FlatTaskRecord(f, host:)` through `JournalEvent.completed`).
    func recordLine(_ f: TaskFacts, id: Int, host: String?, of: String?, attempt: Int?) -> [UInt8] {
        var r = FlatTaskRecord(f, host: host)
        r.id = String(id)
        var out = [UInt8]()
        JournalEvent.completed(r, of: of, attempt: attempt).write(to: &out)
        return out
    }

    func factsLine(_ f: TaskFacts, id: Int, host: String?, of: String?, attempt: Int?) -> [UInt8] {
        var out = [UInt8]()
        JournalEvent.appendCompleted(
            f, id: id, command: JournalEvent.commandField(f.text), host: host, of: of, attempt: attempt, to: &out)
        return out
    }

    @Test("same bytes as the record's line: finished no-ops, pending shell tasks with arguments that are not UTF-8, resumes")
    func sameBytesAsTheRecord() throws {
        // Finished no-ops (engine, times) ...
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let done = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 20))
        #expect(done.wait(timeout: 30))
        // ... and shell tasks that never ran (no engine takes them: a client without engines), with arguments of
        // every kind: plain, quotes and controls, not UTF-8, empty.
        let idle = Client(engines: 0)
        defer { idle.shutdown() }
        let odd = ByteText.decode([0x63, 0x61, 0x66, 0xE9, 0x2E, 0xFF])
        let args: [[String]] = [["plain"], ["a \"q\" \\ \u{1}\n\u{2028}"], [odd, "x"], [""], ["caf\u{E9}", "\u{1F600}"]]
        let template = try Template("echo {} " + odd)
        let tasks = args.enumerated().map { ShellTask(template: template, args: $0.element, seq: $0.offset + 1) }
        _ = try idle.loadBalancedView().submit(shellTasks: tasks, label: "odd")
        let noopIDs = (1...20).map { TaskID($0) }
        let shellIDs = (1...args.count).map { TaskID($0) }
        let facts = client.scheduler.facts(noopIDs).compactMap { $0 } + idle.scheduler.facts(shellIDs).compactMap { $0 }
        #expect(facts.count == 20 + args.count)
        #expect(facts.contains { $0.completed != nil && $0.engine != nil } && facts.contains { !$0.args.isEmpty })
        #expect(facts.allSatisfy { !$0.hasExtras })
        var compared = 0
        for f in facts {
            for host: String? in [nil, "h1", "odd \"host\"\u{7F}"] {
                for (of, attempt): (String?, Int?) in [(nil, nil), (nil, 3), ("17", nil), ("k\"\\ey", 2)] {
                    for id in [f.id.rawValue, 1, 1 << 47] {
                        let want = recordLine(f, id: id, host: host, of: of, attempt: attempt)
                        let got = factsLine(f, id: id, host: host, of: of, attempt: attempt)
                        #expect(
                            got == want,
                            "\(String(decoding: got, as: UTF8.self)) != \(String(decoding: want, as: UTF8.self))")
                        compared += 1
                    }
                }
            }
        }
        #expect(compared == facts.count * 36)
        // Read back: the exact arguments and command.
        for f in facts where !f.args.isEmpty {
            let line = factsLine(f, id: f.id.rawValue, host: nil, of: nil, attempt: nil)
            guard case .completed(let r, _, _)? = try JournalEvent.decode(try JSONValue.parse(String(decoding: line, as: UTF8.self)))
            else {
                Issue.record("not a completed line")
                continue
            }
            #expect(r.args == f.args && r.command == f.text)
        }
    }

    @Test("a writer's completed lines (no-ops, gathered) are the record's lines, the shared command encoded once")
    func writerLinesAreTheRecords() throws {
        let j = try JournaledClient("c.jsonl", engines: 3, kind: "bench", gatherCompleted: true)
        defer { j.close() }
        let (path, client) = (j.path, j.client)
        // Engines 0 and 1 announced (their completed lines leave the host out), engine 2 not (its lines name it).
        j.announceEngines { $0.id != 2 }
        j.feedRounds()
        let view = client.loadBalancedView()
        let a = try view.submit(builtins: Array(repeating: .noop, count: 400))
        let b = try view.submit(builtins: Array(repeating: .noop, count: 400), label: "second")
        #expect(a.wait(timeout: 30) && b.wait(timeout: 30))
        j.finish()

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let completed = lines.filter { $0.hasPrefix("{\"event\":\"completed\"") }
        #expect(completed.count == 800)
        let facts = client.scheduler.facts((1...800).map { TaskID($0) })
        let hosts = Dictionary(
            uniqueKeysWithValues: client.scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.map { ($0.id, $0.info.host) })
        for line in completed {
            let id = try #require(try JSONValue.parse(String(line))["id"]?.int)
            let f = try #require(facts[id - 1])
            let host = f.engine == 2 ? hosts[2] : nil
            let want = String(decoding: recordLine(f, id: id, host: host, of: nil, attempt: nil), as: UTF8.self)
            #expect(String(line) == want)
        }
        #expect(completed.contains { $0.contains("\"engine\":2,\"host\":") })
        let c = try JournalReader.read(path)
        #expect(c.warnings.isEmpty && c.tasks.count == 800 && c.counts.ok == 800)
        #expect(c.tasks.allSatisfy { $0.host == SystemFacts.hostName && $0.command == "noop" })
    }

    @Test("starts held for a round: one its completion answers makes no line; the others are written, never after their completion")
    func heldStarts() throws {
        // Tasks the scheduler knows (pending: no engine takes them); the rounds below are made up.
        let j = try JournaledClient("h.jsonl", engines: 0)
        defer { j.close() }
        let (path, client, writer) = (j.path, j.client, j.writer)
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 5))
        let t = (1...5).map { TaskID($0) }
        let at = Timestamp(microseconds: 1_764_410_000_000_000)
        writer.record(t.map { .submitted(task: $0, batch: 1) })
        // 1 starts and ends, then 5 starts on the same engine; 2 starts on engine 1, then 3 on the same engine; 4
        // starts on engine 2.
        writer.record([
            .started(task: t[0], engine: 0, at: at, processGroup: nil), .completed(task: t[0], batch: 1, status: .ok),
            .started(task: t[4], engine: 0, at: at, processGroup: nil),
            .started(task: t[1], engine: 1, at: at, processGroup: nil), .started(task: t[2], engine: 1, at: at, processGroup: nil),
            .started(task: t[3], engine: 2, at: at, processGroup: nil),
        ])
        // 4 runs again on engine 3 and ends, 2 ends; 3 and 5 still run.
        writer.record([
            .started(task: t[3], engine: 3, at: at, processGroup: nil), .completed(task: t[3], batch: 1, status: .ok),
            .completed(task: t[1], batch: 1, status: .ok),
        ])
        writer.flush()
        let mid = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        writer.finish(reason: "done", totals: client.scheduler.totals)
        let started = mid.filter { $0.contains("\"event\":\"started\"") }
        #expect(started.count == 2, "\(started)")
        #expect(started.contains { $0.contains("\"id\":3,") } && started.contains { $0.contains("\"id\":5,") })
        let completed = mid.filter { $0.contains("\"event\":\"completed\"") }
        #expect(completed.count == 3)
        #expect(writer.eventsSaved == 8, "4 submitted events in the range, 4 starts held by completions")
    }

    @Test("a shell task's cpu_user, cpu_system and max_rss are in its completed line and read back")
    func resourceUseReadsBack() throws {
        var r = try #require(FlatTaskRecord(json: try JSONValue.parse(#"{"id":"7","status":"ok","exit":0}"#)))
        r.command = "sleep 1"
        r.started = Timestamp(microseconds: 1_764_410_000_000_000)
        r.completed = Timestamp(microseconds: 1_764_410_001_000_000)
        r.cpuUser = 0.25
        r.cpuSystem = 0.125
        r.maxRSS = 5_000_000
        let line = JournalEvent.completed(r, of: nil).line
        #expect(line.hasSuffix(#","cpu_user":0.25,"cpu_system":0.125,"max_rss":5000000}"#), "\(line)")
        let submitted = #"{"event":"submitted","id":7,"batch":1,"seq":7,"command":"sleep 1"}"#
        let c = try parse([headerLine(), submitted, line])
        #expect(c.warnings.isEmpty, "\(c.warnings)")
        let t = try #require(c.tasks.first)
        #expect(t.outcome?.usage == ResourceUsage(userSeconds: 0.25, systemSeconds: 0.125, maxRSSBytes: 5_000_000))
        // Peak unknown (below ppdash's own): left out, the CPU figures kept.
        r.maxRSS = nil
        let unknown = JournalEvent.completed(r, of: nil).line
        #expect(!unknown.contains("max_rss") && unknown.contains("\"cpu_system\":0.125"))
        #expect(try parse([headerLine(), submitted, unknown]).tasks.first?.outcome?.usage?.userSeconds == 0.25)
    }
}
