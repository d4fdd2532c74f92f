// The journal per delivery round (issue 17.1): facts looked up together, one write per round, the same lines.
import Foundation
import PPJSON
import PPKit
import PPSource
import Synchronization
import Testing

@testable import PPJournal

import Glibc

@Suite("Journal rounds")
struct JournalRoundTests {
    @Test func aTaskWithoutExtrasGetsTheSameCompletedLineFromItsFacts() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let a = try view.submit(builtins: Array(repeating: .noop, count: 200))
        let b = try view.mapAsync({ (x: Int) in x * x }, 0..<100)
        #expect(a.wait(timeout: 30) && b.wait(timeout: 30))
        let ids = (1...300).map { TaskID($0) }
        var compared = 0
        for (id, f) in zip(ids, client.scheduler.facts(ids)) {
            let f = try #require(f)
            let m = try #require(client.scheduler.metadata(id))
            guard !f.hasExtras else { continue }
            var fast: [UInt8] = []
            var whole: [UInt8] = []
            JournalEvent.completed(FlatTaskRecord(f, host: m.engineHost), of: nil).write(to: &fast)
            JournalEvent.completed(FlatTaskRecord(m), of: nil).write(to: &whole)
            #expect(fast == whole, "\(String(decoding: fast, as: UTF8.self)) vs \(String(decoding: whole, as: UTF8.self))")
            compared += 1
        }
        // The no-ops take the facts' way (the throughput depends on it).
        #expect(compared >= 200)
    }

    @Test func aPrinterAfterTheJournalNeverSeesACompletionTheFileLacks() throws {
        let j = try JournaledClient("j.jsonl", engines: 4, gatherCompleted: false)
        defer { j.close() }
        let (path, client, writer) = (j.path, j.client, j.writer)
        j.announceEngines()
        j.feedRounds()
        let checked = Mutex(0)
        let missing = Mutex<[Int]>([])
        // The "printer": for the first 200 completions, the file (read now) must hold the task's completed line.
        client.scheduler.addObserver { e in
            guard case .completed(let task, _, _) = e else { return }
            guard checked.withLock({ c in
                c += 1
                return c <= 200
            }) else { return }
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if !text.contains("{\"event\":\"completed\",\"id\":\(task.rawValue),") {
                missing.withLock { $0.append(task.rawValue) }
            }
        }
        let n = 3000
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        #expect(ar.wait(timeout: 60))
        j.finish()
        #expect(checked.withLock { $0 } == n)
        #expect(missing.withLock { $0 }.isEmpty, "completions printed before their line was written")
        // Group commit: fewer writes than completions (a round's completed lines go in one write).
        #expect(writer.writeCalls < n, "\(writer.writeCalls) writes for \(n) completions")
        let c = try JournalReader.read(path)
        #expect(c.warnings.isEmpty && c.tasks.count == n && c.counts.ok == n)
    }
}
