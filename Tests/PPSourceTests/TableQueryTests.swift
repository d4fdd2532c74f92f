import Foundation
import PPKit
import Testing

@testable import PPIPP
@testable import PPJournal
@testable import PPSource

@Suite("One table query: the filter language, the index, and the same rows in every source")
struct TableQueryTests {
    @Test("the filter language: column words select, anything else searches")
    func language() {
        #expect(TaskFilter("").isEmpty)
        #expect(TaskFilter("  ").isEmpty)
        #expect(TaskFilter("ok").terms == [.status(.ok)])
        #expect(TaskFilter(" Running  E3 ").terms == [.status(.running), .engine(3)])
        #expect(TaskFilter("engine 3 batch 2").terms == [.engine(3), .batch(2)])
        #expect(TaskFilter("b2 #17 17 failed done").terms == [.batch(2), .task(17), .task(17), .failed, .done])
        #expect(TaskFilter("sleep 1").search == "sleep 1")
        #expect(TaskFilter("sleep 1").terms.isEmpty)
        #expect(TaskFilter("ok then").search == "ok then")
        #expect(TaskFilter("\"ok\"").search == "ok")
        #expect(TaskFilter("e3x").search == "e3x")
        #expect(TaskFilter("e-1").search == "e-1")
        #expect(TaskFilter("0").search == "0")
        #expect(TaskFilter.contains("Echo ÉTÉ Hello", folded: "hello"))
        #expect(TaskFilter.contains("echo été", folded: "été"))
        #expect(!TaskFilter.contains("echo", folded: "echo!"))
    }

    /// A batch of shell tasks with mixed outcomes on two engines, with its journal.
    static func localRun(_ dir: String) throws -> (Client, LocalSource, String) {
        let client = Client(engines: 2)
        let path = dir + "/j.jsonl"
        let header = JournalHeader(kind: "run", ppdashVersion: "test", engines: ["local:2"])
        let writer = try JournalWriter(path: path, header: header, scheduler: client.scheduler, warn: { _ in })
        client.scheduler.addObserver { writer.record($0) }
        let view = client.loadBalancedView()
        let a = try view.submit(Sweep(template: try Template("exit {}"), groups: [["0", "1", "0", "2", "0", "3"]]))
        let b = try view.submit(Sweep(template: try Template("echo {}"), groups: [["alpha", "Beta", "gamma ok", "ok"]]))
        #expect(a.wait(timeout: 20) && b.wait(timeout: 20))
        client.scheduler.flushEvents()
        writer.finish(reason: "done", totals: client.scheduler.totals)
        return (client, LocalSource(client: client), path)
    }

    /// The same tasks as an ipp mirror sees them (msg ids that no search below matches).
    static func mirror(of rows: [TaskRow]) -> IPPMirror {
        let t0 = rows.map(\.submitted).min()!
        var m = IPPMirror(now: t0)
        m.setLiveEngines([0: "u0", 1: "u1"], now: t0)
        let records = rows.enumerated().map { (i, row) -> HubRecord in
            var r = HubRecord(msgId: "zz-\(row.id)")
            r.session = "S\(row.batch)"
            r.submitted = row.submitted.adding(seconds: Double(i) * 1e-6)
            r.engineUUID = row.engine.map { "u\($0)" }
            r.started = row.started
            r.completed = row.completed
            r.received = row.completed
            r.resultStatus = row.status == .ok ? "ok" : "error"
            r.call = TaskCall(function: "sh", args: [], shellCommand: row.text)
            return r
        }
        m.apply(records: records, now: t0)
        return m
    }

    @Test("the same filter strings and sorts give the same rows in a local, a journal and an ipp view")
    func sameRowsEverywhere() throws {
        let dir = NSTemporaryDirectory() + "ppsource-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (client, local, path) = try Self.localRun(dir)
        defer { client.shutdown() }
        let all = local.snapshot(TableQuery(limit: 100)).table.rows
        #expect(all.count == 10)
        let journal = JournalSource(try JournalReader.read(path), label: "")
        let mirror = Self.mirror(of: all)
        var cache = IPPMirror.TableCache()
        #expect(mirror.taskCount == 10)
        #expect(mirror.totals == local.snapshot(TableQuery(limit: 0)).totals)

        let filters = [
            "", "ok", "error", "failed", "done", "running", "pending", "e0", "e1", "engine 1", "b2", "batch 1", "3",
            "#4", "ok e1", "error b1", "exit", "EXIT 1", "echo", "gamma ok", "\"ok\"", "beta", "no such text",
        ]
        var nonEmpty = 0
        for f in filters {
            for sort in [SortKey.id, .status, .text, .batch] {
                for ascending in [true, false] {
                    let q = TableQuery(sort: sort, ascending: ascending, filter: f, limit: 100)
                    let l = local.snapshot(q).table
                    let j = journal.snapshot(q).table
                    let i = mirror.snapshot(q, now: all[0].submitted, source: "", cache: &cache).table
                    #expect(l.rows.map(\.id) == j.rows.map(\.id), "local and journal differ for /\(f) by \(sort)")
                    #expect(l.rows.map(\.id) == i.rows.map(\.id), "local and ipp differ for /\(f) by \(sort)")
                    #expect(l.matching == j.matching && l.matching == i.matching)
                    if !l.rows.isEmpty { nonEmpty += 1 }
                }
            }
        }
        #expect(nonEmpty >= 8 * (filters.count - 4))
        // Spot checks of what the words mean.
        func ids(_ f: String) -> [Int] { local.snapshot(TableQuery(filter: f, limit: 100)).table.rows.map(\.id.rawValue) }
        #expect(ids("error") == [2, 4, 6])
        #expect(ids("ok") == [1, 3, 5, 7, 8, 9, 10])
        #expect(ids("\"ok\"") == [9, 10])
        #expect(ids("b2") == [7, 8, 9, 10])
        #expect(ids("#4") == [4])
        #expect(ids("beta") == [8])
    }

    @Test("a filter or sort change on a large batch reads no task under the scheduler's lock")
    func filterChangeOffTheLock() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        client.scheduler.isPaused = true
        let n = 200_000
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        let source = LocalSource(client: client)
        // The first look copies every task's keys, a chunk per hold of the lock.
        let chunk = client.scheduler.taskKeys(since: TaskKeyCursor(), limit: LocalSource.keyChunk)
        #expect(chunk.newKeys.count == LocalSource.keyChunk && !chunk.caughtUp)
        let first = source.snapshot(TableQuery(filter: "pending", limit: 20))
        #expect(first.table.matching == n)
        #expect(source.lastLockedCost == n)
        // Every later change of filter or order: nothing changed, nothing is read under the lock.
        let queries = [
            TableQuery(filter: "e1", limit: 20), TableQuery(sort: .text, filter: "noop", limit: 20),
            TableQuery(sort: .status, ascending: false, limit: 20), TableQuery(filter: "#17", limit: 20),
            TableQuery(sort: .engine, filter: "pending b1", limit: 20, follow: true),
        ]
        for q in queries {
            let s = source.snapshot(q)
            #expect(source.lastLockedCost == 0, "\(q.filter) by \(q.sort)")
            #expect(source.lastSnapshotCost >= n, "the index is rebuilt outside the lock")
            #expect(s.table.total == n)
        }
        #expect(source.snapshot(TableQuery(filter: "#17", limit: 20)).table.rows.map(\.id) == [TaskID(17)])
        #expect(source.snapshot(TableQuery(filter: "e1", limit: 20)).table.matching == 0)
        // Once the batch ran, the next frame reads only the changed tasks' keys, then nothing again.
        client.scheduler.isPaused = false
        #expect(ar.wait(timeout: 60))
        let done = source.snapshot(TableQuery(filter: "ok", limit: 20))
        #expect(done.table.matching == n)
        #expect(source.lastLockedCost > 0)
        _ = source.snapshot(TableQuery(sort: .engine, filter: "ok", limit: 20))
        #expect(source.lastLockedCost == 0)
        // The default view reads only its rows.
        _ = source.snapshot(TableQuery(limit: 20, follow: true))
        #expect(source.lastLockedCost == 20)
    }

    /// Tasks with keys a test changes at will.
    struct Columns: TaskColumns {
        var keys: [TaskKey]
        var texts: [String]
        var taskCount: Int { keys.count }
        func key(_ i: Int) -> TaskKey { keys[i] }
        func text(_ i: Int) -> String { texts[i] }
        func externalId(_ i: Int) -> String? { nil }
        func row(_ i: Int) -> TaskRow { TaskRow(index: i, key: keys[i], text: texts[i]) }
    }

    @Test("an index kept up to date with changed and new tasks equals one built afresh")
    func incrementalEqualsRebuilt() {
        var rng = SystemRandomNumberGenerator()
        func randomKey() -> TaskKey {
            let status = TaskStatus.allCases.randomElement(using: &rng)!
            let started: Int64 = status == .pending ? 0 : Int64.random(in: 1...50, using: &rng)
            return TaskKey(
                batch: Int32.random(in: 1...3, using: &rng), seq: 1, engine: Int32.random(in: -1...3, using: &rng),
                status: status, retries: UInt16.random(in: 0...2, using: &rng), submitted: 1, started: started,
                completed: status.isFinished ? started + Int64.random(in: 0...9, using: &rng) : 0)
        }
        var c = Columns(keys: [], texts: [])
        func grow(_ k: Int) {
            for _ in 0..<k {
                c.keys.append(randomKey())
                c.texts.append(["echo a", "echo B", "sleep 1", "Sleep 2"].randomElement(using: &rng)!)
            }
        }
        grow(300)
        for sort in SortKey.allCases {
            for filter in ["", "running", "e2", "failed b1", "sleep"] {
                let q = TableQuery(sort: sort, ascending: Bool.random(using: &rng), filter: filter, limit: 40, follow: true)
                var index: TableIndex?
                var cost = 0
                for _ in 0..<5 {
                    var changed: [Int32] = []
                    for _ in 0..<Int.random(in: 0...40, using: &rng) {
                        let i = Int.random(in: 0..<c.keys.count, using: &rng)
                        c.keys[i] = randomKey()
                        changed.append(Int32(i))
                    }
                    grow(Int.random(in: 0...30, using: &rng))
                    let anchor = Int.random(in: 0..<c.keys.count, using: &rng)
                    let kept = TableIndex.window(c, q, index: &index, changed: changed, anchor: anchor, cost: &cost)
                    var fresh: TableIndex?
                    let built = TableIndex.window(c, q, index: &fresh, changed: nil, anchor: anchor, cost: &cost)
                    #expect(kept == built, "/\(filter) by \(sort)")
                    #expect(index?.order == fresh?.order)
                    if TaskFilter(filter).matches(c, anchor) {
                        #expect(kept.rows.contains { $0.id == TaskID(anchor + 1) }, "follow shows the anchor")
                    }
                }
            }
        }
    }
}
