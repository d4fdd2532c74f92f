import Dispatch
import Foundation
import PPKit
import Synchronization
import Testing

@testable import PPSource

@Suite("The table at a million: sorts in linear time, kept indexes, no lock held while sorting", .serialized)
struct TableScaleTests {
    typealias Columns = TableQueryTests.Columns

    @Test("the radix sort orders as the comparison sort does, ties by index, extreme values included")
    func radixEqualsComparison() {
        var rng = SplitMix64(seed: 9)
        for n in [0, 1, 2, 100, 5000, 70_000] {
            for spread in [Int64(3), 1 << 20, Int64.max] {
                let list = (0..<Int32(n)).map { $0 }
                var values = list.map { _ in Int64.random(in: -spread...spread, using: &rng) }
                if n > 3 { values[0] = .min; values[1] = .max; values[2] = 0 }
                var got = list
                TableIndex.radixSort(&got, values: values)
                let want = list.sorted { a, b in
                    values[Int(a)] == values[Int(b)] ? a < b : values[Int(a)] < values[Int(b)]
                }
                #expect(got == want, "n \(n) spread \(spread)")
            }
        }
    }

    @Test("the text sort orders as String's < does, ASCII prefix or not")
    func textOrder() {
        let words = ["echo 10", "echo 9", "echo 1", "Echo", "", "été", "ete", "echo 1\u{0}", "zz", "échо", "echo 100000000",
                     "echo 10000000", "a", "ab", "abcdefgh", "abcdefghi", "abcdefgH"]
        var c = Columns(keys: [], texts: [])
        for (i, w) in (words + words.reversed()).enumerated() {
            c.keys.append(TaskKey(batch: 1, seq: Int32(i + 1), engine: -1, status: .pending, retries: 0, submitted: 1, started: 0, completed: 0))
            c.texts.append(w)
        }
        var cost = 0
        var index: TableIndex?
        let w = TableIndex.window(c, TableQuery(sort: .text, limit: 100), index: &index, changed: nil, anchor: nil, cost: &cost)
        let want = c.texts.indices.sorted { a, b in c.texts[a] == c.texts[b] ? a < b : c.texts[a] < c.texts[b] }
        #expect(w.rows.map(\.id) == want.map { TaskID($0 + 1) })
    }

    @Test("kept indexes (back to a sort, a filter narrowed by a keystroke) equal indexes built afresh")
    func cacheEqualsRebuilt() {
        var rng = SplitMix64(seed: 11)
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
                c.texts.append(["echo a", "echo B", "sleep 1", "Sleep 2", "sleep 10"].randomElement(using: &rng)!)
            }
        }
        grow(400)
        var cache = TableIndexCache()
        let filters = ["", "s", "sl", "sle", "sleep 1", "sl", "", "e2", "e2 ok", "e2 ok b1", "e2", "failed", "failed b2"]
        for round in 0..<4 {
            for sort in SortKey.allCases {
                for filter in filters {
                    var changed: [Int32] = []
                    for _ in 0..<Int.random(in: 0...30, using: &rng) {
                        let i = Int.random(in: 0..<c.keys.count, using: &rng)
                        c.keys[i] = randomKey()
                        changed.append(Int32(i))
                    }
                    cache.note(changed)
                    grow(Int.random(in: 0...20, using: &rng))
                    let q = TableQuery(sort: sort, ascending: Bool.random(using: &rng), filter: filter, limit: 1000)
                    var cost = 0
                    let kept = cache.window(c, q, anchor: nil, cost: &cost)
                    var fresh: TableIndex?
                    let built = TableIndex.window(c, q, index: &fresh, changed: nil, anchor: nil, cost: &cost)
                    #expect(kept == built, "round \(round) /\(filter) by \(sort)")
                    if kept != built { return }
                }
            }
        }
        #expect(cache.entries.count <= TableIndexCache.capacity)
    }

    @Test("a frame of the default view reads only its rows; the key copy catches up a chunk per idle(): the first sort then reads nothing under the lock")
    func warmCopy() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        client.scheduler.isPaused = true
        let n = 50_000
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        let source = LocalSource(client: client)
        // Frames cost their rows, however many tasks wait to be copied.
        for _ in 0..<3 {
            _ = source.snapshot(TableQuery(limit: 20))
            #expect(source.lastLockedCost == 20 && source.lastSnapshotCost == 20)
        }
        var calls = 0
        var copied = 0
        while calls < 100 {
            let more = source.idle()
            calls += 1
            copied += source.lastIdleCost
            #expect(source.lastIdleCost <= LocalSource.keyChunk, "one chunk per call at most")
            if !more { break }
        }
        #expect(copied == n, "every key copied once")
        // Keys and texts take n / keyChunk calls; the last of them and one call per other sort key build the orders.
        #expect(
            calls == (n + LocalSource.keyChunk - 1) / LocalSource.keyChunk + TableIndexCache.readyKeys.count - 1,
            "caught up chunk by chunk, then an order per call")
        #expect(!source.idle() && source.lastIdleCost == 0, "nothing left")
        _ = source.snapshot(TableQuery(limit: 20))
        #expect(source.lastLockedCost == 20)
        let sorted = source.snapshot(TableQuery(sort: .status, ascending: false, limit: 20))
        #expect(source.lastLockedCost == 0, "nothing left to copy at the first sort")
        #expect(sorted.table.matching == n)
    }

    @Test("after the upkeep between frames, no sort change or filter keystroke sorts: each reads a ready order")
    func readyOrdersSortNothing() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        client.scheduler.isPaused = true
        let n = 61_111  // a count no other test sorts: the probe below is process-wide
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        let sorts = Mutex(0)
        TableIndex.whileSorting(minimum: 10_000) { rows in if rows <= n { sorts.withLock { $0 += 1 } } }
        defer { TableIndex.whileSorting(minimum: 0, nil) }
        // Without the upkeep, the first sort sorts (the probe sees it).
        let cold = LocalSource(client: client)
        #expect(cold.snapshot(TableQuery(sort: .engine, limit: 20)).table.matching == n)
        #expect(sorts.withLock { $0 } == 1)
        let source = LocalSource(client: client)
        var calls = 0
        while source.idle() && calls < 1000 { calls += 1 }
        #expect(calls < 1000)
        sorts.withLock { $0 = 0 }
        for sort in SortKey.allCases {
            for ascending in [true, false] {
                let s = source.snapshot(TableQuery(sort: sort, ascending: ascending, limit: 20))
                #expect(s.table.matching == n && s.table.rows.count == 20)
                // By id the rows are read straight from the scheduler (under its lock); any other order is ready.
                #expect(source.lastLockedCost <= (sort == .id ? 20 : 0), "by \(sort): nothing copied")
                #expect(source.lastSnapshotCost <= 20, "by \(sort): the window's rows only")
            }
        }
        for sort in [SortKey.engine, .text, .completed, .id] {
            for filter in ["n", "no", "noop", "no", "n", "", "pending", "pending b1", "e1", "x", "#5,7"] {
                let s = source.snapshot(TableQuery(sort: sort, filter: filter, limit: 20))
                let want = filter.hasPrefix("n") || filter.hasPrefix("p") || filter.isEmpty ? n : filter.hasPrefix("#") ? 2 : 0
                #expect(s.table.matching == want, "/\(filter) by \(sort)")
                #expect(source.lastSnapshotCost <= n + 20, "/\(filter) by \(sort): one pass at most")
            }
        }
        #expect(sorts.withLock { $0 } == 0, "nothing sorted after the upkeep")
    }

    /// 300,000 tasks keep the debug-built test to seconds; the sort's code path is the same at a million (the bench).
    @Test("an engine completes tasks while a sort of 300,000 tasks runs: the sort holds no scheduler lock")
    func sortOffTheLock() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngineS() })
        defer { client.shutdown() }
        let engine = ManualEngineS()
        scheduler.addEngine(engine)
        let n = 300_000
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        let source = LocalSource(client: client)
        // The keys copied and a first order built, before the probe is set.
        #expect(source.snapshot(TableQuery(sort: .status, limit: 20)).table.total == n)
        let completedDuringSort = Mutex(-1)
        TableIndex.whileSorting(minimum: n / 2) { _ in
            // On another thread: ten tasks finish through the scheduler (its lock) while this sort waits for them.
            let done = DispatchSemaphore(value: 0)
            Thread {
                for _ in 0..<10 { engine.finishFirst() }
                done.signal()
            }.start()
            let ok = done.wait(timeout: .now() + 60) == .success
            completedDuringSort.withLock { $0 = ok ? scheduler.totals.done : -2 }
        }
        defer { TableIndex.whileSorting(minimum: 0, nil) }
        let snap = source.snapshot(TableQuery(sort: .engine, ascending: false, limit: 20))
        TableIndex.whileSorting(minimum: 0, nil)
        #expect(completedDuringSort.withLock { $0 } == 10, "ten completions while the sort ran")
        #expect(snap.table.total == n)
        // The next frame shows them: by engine, descending, engine 0's tasks (ten done, one held) come first.
        let next = source.snapshot(TableQuery(sort: .engine, ascending: false, limit: 20))
        #expect(next.table.rows.prefix(11).allSatisfy { $0.engine == 0 })
        #expect(next.table.rows.prefix(11).filter { $0.status.isFinished }.count == 10)
    }
}

/// An engine the test finishes by hand (hwm 1), for the sort probe.
final class ManualEngineS: Engine {
    let info = EngineInfo(kind: .local, host: "testhost", pid: 1, cores: 1)
    var runsClosures: Bool { true }
    var highWaterMark: Int { 1 }
    struct S {
        var id = -1
        var sink: (any EngineSink)?
        var queue: [Assignment] = []
    }
    let s = Mutex(S())
    func start(id: EngineID, sink: any EngineSink) { s.withLock { $0.id = id; $0.sink = sink } }
    func run(_ a: Assignment) { s.withLock { $0.queue.append(a) } }
    func cancel(_ task: TaskID, reason: CancelReason) {}
    func shutdown(graceful: Bool) {}
    func liveOutput(_ task: TaskID) -> LiveOutput? { nil }
    func finishFirst() {
        let (id, sink, a) = s.withLock { st in (st.id, st.sink, st.queue.removeFirst()) }
        let now = SystemClock().now()
        sink?.engineFinished(id, task: a.task, outcome: TaskOutcome(status: .ok, started: now, completed: now))
    }
}
