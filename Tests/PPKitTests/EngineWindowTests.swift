import Foundation
import PPSystem
import Synchronization
import Testing

@testable import PPKit

@Suite("Engine rows windowed: a frame reads the rows it shows and counters kept as engines change")
struct EngineWindowTests {
    @Test("the counts kept as engines change equal a count over every row, through any changes")
    func countsKeptEqualACount() throws {
        var rng = SplitMix64(seed: 7)
        let scheduler = Scheduler(seed: 1)
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        defer { client.shutdown() }
        var engines = (0..<30).map { _ in ManualEngine() }
        for e in engines { scheduler.addEngine(e) }
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 400))
        var gone = Set<Int>()
        for step in 0..<600 {
            let i = Int.random(in: 0..<engines.count, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                if !gone.contains(i), !engines[i].held.isEmpty {
                    if step % 3 == 0 { engines[i].failFirst("boom") } else { engines[i].finishFirst(value: nil) }
                }
            case 5: try? scheduler.setExcluded(i, Bool.random(using: &rng))
            case 6 where !gone.contains(i) && step % 4 == 0:
                try? scheduler.removeEngine(i)
            case 7 where !gone.contains(i) && step % 5 == 0:
                engines[i].die("lost")
                gone.insert(i)
            case 8 where step % 7 == 0:
                let e = ManualEngine()
                engines.append(e)
                scheduler.addEngine(e)
            default:
                break
            }
            let kept = scheduler.read(batchLimit: 0, engineWindow: EngineWindow(offset: 0, limit: 0))
            let every = scheduler.read(batchLimit: 0)
            #expect(kept.engines.isEmpty)
            #expect(kept.engineCount == every.engines.count)
            #expect(kept.engineCounts == EngineCounts(every.engines), "step \(step)")
            if kept.engineCounts != EngineCounts(every.engines) { return }
        }
        let final = scheduler.read(batchLimit: 0).engines
        #expect(EngineCounts(final).dead > 0 || EngineCounts(final).removed > 0, "the run covered engines leaving")
    }

    @Test("a thousand engines: the snapshot carries the window's rows, clamped full at the end")
    func windowOfAThousand() {
        let scheduler = Scheduler(seed: 1)
        defer { scheduler.shutdown() }
        for _ in 0..<1000 { scheduler.addEngine(ManualEngine()) }
        let r = scheduler.read(batchLimit: 0, engineWindow: EngineWindow(offset: 500, limit: 12))
        #expect(r.engines.count == 12)
        #expect(r.engineFirst == 500)
        #expect(r.engines.map(\.id) == Array(500..<512))
        #expect(r.engineCount == 1000)
        #expect(r.engineCounts.idle == 1000 && r.engineCounts.alive == 1000)
        // Past the end: the last full window.
        let end = scheduler.read(batchLimit: 0, engineWindow: EngineWindow(offset: 5000, limit: 12))
        #expect(end.engineFirst == 988 && end.engines.map(\.id) == Array(988..<1000))
        // A named engine outside the window comes apart.
        let also = scheduler.read(batchLimit: 0, engineWindow: EngineWindow(offset: 0, limit: 5), alsoEngine: 700)
        #expect(also.engines.count == 5 && also.extraEngine?.id == 700)
        // Negative and huge requests are clamped, never a trap.
        let odd = scheduler.read(batchLimit: 0, engineWindow: EngineWindow(offset: -3, limit: Int.max))
        #expect(odd.engineFirst == 0 && odd.engines.count == 1000)
    }

    /// A clock that stands still until set: two reads at the same instant.
    final class StillClock: PPClock {
        let t = Mutex<Int64>(SystemTime.wallMicroseconds())
        func now() -> Timestamp { Timestamp(microseconds: t.withLock { $0 }) }
        func monotonicNanoseconds() -> Int64 { SystemTime.monotonicNanoseconds() }
        func catchUp() { t.withLock { $0 = SystemTime.wallMicroseconds() } }
    }

    @Test("task-stream lanes are summed in the scheduler to the rows asked for, by host or k engines a lane")
    func lanesAggregated() throws {
        let clock = StillClock()
        let scheduler = Scheduler(clock: clock, seed: 1)
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        defer { client.shutdown() }
        let engines = (0..<40).map { _ in ManualEngine() }
        for e in engines { scheduler.addEngine(e) }
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 80))
        for (i, e) in engines.enumerated() { if i % 2 == 0 { e.finishFirst(value: nil) } else { e.failFirst("x") } }
        clock.catchUp()
        let r = scheduler.read(batchLimit: 0, timelineCells: 30, engineWindow: EngineWindow(offset: 0, limit: 4), streamLanes: 4)
        let lanes = try #require(r.lanes)
        // Every engine on one host ("testhost"): k engines a lane.
        #expect(lanes.grouping == .every(10))
        #expect(lanes.lanes.map(\.label) == ["0-9", "10-19", "20-29", "30-39"])
        #expect(lanes.lanes.allSatisfy { $0.cells.count == 30 })
        // Half the engines failed a task in the last second, all are running the next: the worst outcome shows.
        #expect(lanes.lanes.allSatisfy { $0.cells.last?.outcome == .error })
        // No engine row carries a timeline of its own when the lanes are asked for.
        #expect(r.engines.allSatisfy { $0.timeline == nil })
        // Few engines: a lane each, the same cells as each engine's own timeline.
        let one = scheduler.read(batchLimit: 0, timelineCells: 30, streamLanes: 100)
        let own = scheduler.read(batchLimit: 0, timelineCells: 30)
        #expect(one.lanes?.grouping == .perEngine)
        #expect(one.lanes?.lanes.count == 40)
        for (lane, e) in zip(one.lanes?.lanes ?? [], own.engines) {
            #expect(lane.label == String(e.id))
            #expect(lane.cells == e.timeline?.cells)
        }
    }

    @Test("lanes by host when the hosts fit, with the host as label")
    func lanesByHost() {
        let hosts = (0..<12).map { $0 < 7 ? "alpha" : "beta" }
        let (g, lane, names) = StreamLanes.assign(hosts: hosts, rows: 4)
        #expect(g == .byHost && names == ["alpha", "beta"])
        #expect(lane == (0..<12).map { $0 < 7 ? 0 : 1 })
        let (g2, lane2, _) = StreamLanes.assign(hosts: (0..<12).map { "h\($0)" }, rows: 4)
        #expect(g2 == .every(3) && lane2.last == 3)
        #expect(StreamLanes.assign(hosts: ["a", "b"], rows: 4).grouping == .perEngine)
        #expect(StreamLanes.assign(hosts: [], rows: 0).lane.isEmpty)
    }
}
