// The reader's table: a compact row a task whatever the task's command, arguments and output (counted from the
// table's strides and counts, not RSS); command, arguments and outcome read back from the file.
import Foundation
import PPKit
import Testing

@testable import PPJournal

import Glibc

@Suite("Journal reader table")
struct ReaderTableTests {
    /// A killed run's journal as `run` writes it (format 2: a `submitted` line with arguments, a compact `completed`
    /// line per task), `count` tasks of which the first `completed` completed; each command is `width` bytes and each
    /// task printed `output` bytes. Returns its path.
    func journal(
        dir: String, name: String, count: Int, completed: Int, width: Int, output: Int, sweep: Int? = nil
    ) throws -> String {
        let pad = String(repeating: "p", count: max(0, width - 40))
        let template = "echo \(pad) {1} {2} {3}"
        var header = JournalHeader(kind: "run", ppdashVersion: "test", engines: ["local:2"], template: template)
        if let sweep {
            var g = ArgGroup()
            try g.appendRange(1, sweep)
            header.arguments = [g, ["b"], ["c"]]
        }
        var text = header.jsonLine() + "\n"
        text += "{\"event\":\"engine\",\"engine\":0,\"kind\":\"local\",\"host\":\"\(header.host)\"}\n"
        text += "{\"event\":\"batch\",\"batch\":1,\"label\":\"\(template)\"}\n"
        let out = String(repeating: "o", count: output)
        let t0 = header.started.microseconds
        for id in 1...count {
            let command = "echo \(pad) \(id) b c"
            text += "{\"event\":\"submitted\",\"id\":\(id),\"batch\":1,\"seq\":\(id),\"command\":\"\(command)\",\"args\":[\"\(id)\",\"b\",\"c\"]}\n"
            if id <= completed {
                let status = id % 10 == 0 ? "error" : "ok"
                text += "{\"event\":\"completed\",\"id\":\(id),\"command\":\"\(command)\",\"args\":[\"\(id)\",\"b\",\"c\"],\"engine\":0,\"status\":\"\(status)\",\"exit\":\(status == "ok" ? 0 : 1),\"submitted_us\":\(t0),\"started_us\":\(t0 + Int64(id)),\"completed_us\":\(t0 + Int64(id) + 7),\"stdout\":\"\(out)\"}\n"
            }
        }
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func aTaskCostsAFewRowBytesWhateverItsCommandAndOutput() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 2_000
        let small = try journal(dir: dir, name: "s.jsonl", count: n, completed: n - 100, width: 40, output: 10)
        let big = try journal(dir: dir, name: "b.jsonl", count: n, completed: n - 100, width: 400, output: 2000)
        let s = try JournalReader.read(small, keepOutput: false)
        let b = try JournalReader.read(big, keepOutput: false)
        #expect(s.warnings.isEmpty && b.warnings.isEmpty, "\(s.warnings) \(b.warnings)")
        #expect(s.tasks.count == n && b.tasks.count == n)
        let perTask = Double(b.table.bytesHeld) / Double(n)
        #expect(JournalTaskTable.rowStride <= 104, "row stride \(JournalTaskTable.rowStride)")
        #expect(perTask <= 150, "\(perTask) B a task held by the reader's table")
        // 10 times the command and 200 times the output cost the table nothing more (the label is the only string).
        #expect(b.table.bytesHeld - s.table.bytesHeld < 1000, "\(s.table.bytesHeld) vs \(b.table.bytesHeld)")

        // Every task reads back whole, in order: a loop reads the lines in file order.
        var i = 0
        for t in b.tasks {
            i += 1
            #expect(t.key == String(i) && t.seq == i)
            if i % 97 == 1 || i == n {
                #expect(t.command.hasSuffix(" \(i) b c") && t.command.utf8.count > 360, "\(t.command.prefix(60))")
                #expect(t.args == [String(i), "b", "c"])
                #expect(t.label.hasPrefix("echo pp") && t.label.hasSuffix("{1} {2} {3}"))
            }
            if i <= n - 100 {
                #expect(t.status == (i % 10 == 0 ? .error : .ok) && t.engine == 0 && t.outputOffset != nil)
                #expect(t.started != nil && t.completed.map { $0.microseconds - t.started!.microseconds } == 7)
            } else {
                #expect(t.status == .pending && t.outputOffset == nil && t.started == nil)
            }
        }
        #expect(i == n)
        // One task asked for out of order reads its own line; its output stays in the file until asked for.
        let t = b.tasks[1_345]
        #expect(t.command.hasSuffix(" 1346 b c") && t.args[0] == "1346")
        let o = JournalReader.outcome(at: t.outputOffset!, in: big)
        #expect(o?.stdout.utf8.count == 2000 && o?.exit == 0)
        #expect(b.counts.ok == (n - 100) - (n - 100) / 10 && b.counts.error == (n - 100) / 10 && b.counts.pending == 100)

        // A resume plans from the rows: the ok tasks are counted, the others read back and rebuilt.
        let plan = ResumePlan.make(b, groupAlive: { _, _ in false })
        #expect(plan.alreadyOK == b.counts.ok && plan.rerun.count == b.counts.error + 100 && plan.notRebuildable.isEmpty)
        #expect(plan.rerun.last?.work.displayCommand == b.tasks[n - 1].command)
    }

    @Test func tasksNeverSubmittedArePlannedFromTheHeaderWithoutText() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A sweep of 5,000 x 1 x 1 killed after 300 `submitted` lines, 200 of them completed.
        let path = try journal(dir: dir, name: "k.jsonl", count: 300, completed: 200, width: 40, output: 10, sweep: 5000)
        let c = try JournalReader.read(path, keepOutput: false)
        #expect(c.warnings.isEmpty, "\(c.warnings)")
        #expect(c.tasks.count == 5000 && c.counts.pending == 4800)
        // The planned rows hold no text: the table stays rows only.
        #expect(c.table.bytesHeld <= 5000 * JournalTaskTable.rowStride + 1000)
        let t = c.tasks[4999]
        #expect(t.key == "5000" && t.seq == 5000 && t.status == .pending)
        #expect(t.command == "echo \(String(repeating: "p", count: 0)) 5000 b c" && t.args == ["5000", "b", "c"])
        let plan = ResumePlan.make(c, groupAlive: { _, _ in false })
        #expect(plan.rerun.count == 100 + 20 && plan.tail?.count == 4700 && plan.count == 4820 && plan.notRebuildable.isEmpty)
    }

    @Test func parsedTextKeepsItsCommandsInMemory() throws {
        // `parse` has no file to read back from: commands and outcomes are kept.
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try journal(dir: dir, name: "p.jsonl", count: 30, completed: 30, width: 40, output: 5)
        let c = try JournalReader.parse(try Data(contentsOf: URL(fileURLWithPath: path)), path: "/nonexistent/p.jsonl")
        #expect(c.tasks.count == 30)
        #expect(c.tasks[29].command == "echo  30 b c" && c.tasks[29].outcome?.stdout == "ooooo")
    }

    @Test func aKilledRangeOfTenMillionIsPlannedWithoutARowATask() throws {
        // `run ::: 1..10000000` killed early: three `submitted` lines reached the disk, two tasks started.
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var g = ArgGroup()
        try g.appendRange(1, 10_000_000)
        var header = JournalHeader(kind: "run", ppdashVersion: "test", engines: ["local:2"], template: "sleep 9 # {}", arguments: [g])
        header.pid = Int32.max
        var text = header.jsonLine() + "\n{\"event\":\"batch\",\"batch\":1,\"label\":\"sleep 9 # {}\"}\n"
        for id in 1...3 {
            text += "{\"event\":\"submitted\",\"id\":\(id),\"batch\":1,\"seq\":\(id),\"command\":\"sleep 9 # \(id)\",\"args\":[\"\(id)\"]}\n"
        }
        text += "{\"event\":\"started\",\"id\":1,\"engine\":0,\"host\":\"h\",\"pgid\":2147483000}\n"
        text += "{\"event\":\"started\",\"id\":2,\"engine\":1,\"host\":\"h\",\"pgid\":2147483001}\n"
        let path = dir + "/r.jsonl"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let c = try JournalReader.read(path, keepOutput: false)
        #expect(c.warnings.isEmpty, "\(c.warnings)")
        #expect(c.tasks.count == 10_000_000 && c.table.rowCount == 3)
        #expect(c.counts.pending == 9_999_998 && c.counts.running == 2)
        // A few rows (reserved for what the file could hold) and a one-word bitmap: a few KB, not a row a task.
        #expect(c.table.bytesHeld < 4096, "\(c.table.bytesHeld) B")
        let last = c.tasks[9_999_999]
        #expect(last.key == "10000000" && last.seq == 10_000_000 && last.command == "sleep 9 # 10000000" && last.label == "sleep 9 # {}")
        #expect(c.tasks[3].seq == 4 && c.tasks[3].status == .pending)
        // The resume's plan: the 3 rows, then the tail of 9,999,997 made as dispatched.
        let plan = ResumePlan.make(c, groupAlive: { _, _ in false })
        #expect(plan.count == 10_000_000 && plan.rerun.count == 3 && plan.tail?.count == 9_999_997)
        #expect(plan.tail?.work(0).displayCommand == "sleep 9 # 4" && plan.tail?.seq(9_999_996) == 10_000_000)
        #expect(ResumePlan.make(c, selection: .failedOnly).count == 0)
    }

    @Test func theTailIsEverySeqNoRowHoldsInOrder() {
        // Seqs some rows hold (a third, at random, in runs and alone), a sweep past them: the tail is the rest, in
        // order, each found by `seq(_:)` as a plain scan finds it.
        var rng = SystemRandomNumberGenerator()
        for planned in [1, 63, 64, 65, 4096, 4097, 20_000] {
            var held = Set<Int>()
            for s in 1...planned where Int.random(in: 0..<3, using: &rng) == 0 { held.insert(s) }
            if planned > 100 { for s in 200...300 where s <= planned { held.insert(s) } }
            let sweep = Sweep(template: try! Template("echo {}"), groups: [ArgGroup((1...planned).map(String.init))])
            let tail = PlannedTail(sweep: sweep, planned: planned, submitted: 0, seen: Array(held))
            let expected = (1...planned).filter { !held.contains($0) }
            #expect(tail.count == expected.count, "planned \(planned)")
            #expect((0..<tail.count).map(tail.seq) == expected, "planned \(planned)")
            if let k = expected.indices.last { #expect(tail.work(k).args == [String(expected[k])]) }
        }
    }
}
