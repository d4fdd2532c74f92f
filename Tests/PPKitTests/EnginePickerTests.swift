import Foundation
import Synchronization
import Testing

@testable import PPKit

@Suite("Dispatch with a thousand engines: the pick is no walk over them")
struct EnginePickerTests {
    /// Engines examined per task assigned while `engines` manual engines (hwm 1) each finish tasks in turn.
    static func examinedPerTask(engines n: Int, completions: Int, scheme: Scheme = .leastLoad) throws -> Double {
        let scheduler = Scheduler(scheme: scheme, seed: 1)
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        defer { client.shutdown() }
        let engines = (0..<n).map { _ in ManualEngine() }
        for e in engines { scheduler.addEngine(e) }
        _ = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n + completions))
        #expect(engines.allSatisfy { $0.held.count == 1 }, "every engine holds one task")
        let before = scheduler.dispatchWork
        for k in 0..<completions { engines[(k * 7) % n].finishFirst(value: nil) }
        let after = scheduler.dispatchWork
        #expect(after.assignments - before.assignments == completions)
        #expect(scheduler.totals.done == completions)
        return Double(after.enginesExamined - before.enginesExamined) / Double(completions)
    }

    @Test("engines examined per dispatch stay O(log engines) from 4 to 1,000 engines")
    func flatWork() throws {
        for scheme in [Scheme.leastLoad, .lru, .random, .twoBin] {
            let few = try Self.examinedPerTask(engines: 4, completions: 2000, scheme: scheme)
            let many = try Self.examinedPerTask(engines: 1000, completions: 2000, scheme: scheme)
            // A walk over the free engines would examine hundreds per task; a heap step is about 2 log2(1000) = 20.
            #expect(many <= 2 * log2(1000) + 4, "\(scheme): \(many) engines examined per task with 1,000 engines")
            #expect(many <= few * 10 + 4, "\(scheme): \(few) with 4 engines, \(many) with 1,000")
        }
    }

    /// The pick the old walk made: the scheme over the free engines in LRU order.
    static func walkPick(_ table: EngineTable, _ scheme: Scheme) -> Int? {
        let free = table.indices.filter { table[$0].capacity > 0 }.sorted { table[$0].lru < table[$1].lru }
        guard !free.isEmpty else { return nil }
        var rng = SplitMix64(seed: 0)
        return free[scheme.choose(loads: free.map { table[$0].assigned.count }, using: &rng)]
    }

    @Test("least-load and lru pick what a walk over every engine picks, through any changes")
    func sameAsWalk() {
        var rng = SplitMix64(seed: 42)
        let engine = ManualEngine()
        for scheme in [Scheme.leastLoad, .lru] {
            var table = EngineTable()
            var picker = EnginePicker()
            for i in 0..<60 {
                table.append(
                    EngineSlot(engine: engine, info: engine.info, runsClosures: true, hwm: [0, 1, 2, 4][i % 4], lru: -i, created: 0))
            }
            var lru = 0
            for step in 0..<3000 {
                let e = Int.random(in: 0..<table.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0, 1:
                    lru += 1
                    table[e].assigned.append(TaskSlot(step + 1))
                    table[e].load += 1
                    table[e].lru = lru
                case 2, 3:
                    if !table[e].assigned.isEmpty {
                        table[e].assigned.removeFirst()
                        table[e].load -= 1
                    }
                case 4: table[e].draining = Int.random(in: 0..<4, using: &rng) == 0
                default: table[e].alive = Int.random(in: 0..<8, using: &rng) != 0
                }
                picker.sync(&table, scheme: scheme)
                let want = Self.walkPick(table, scheme)
                #expect(picker.free.count == table.filter { $0.capacity > 0 }.count)
                if let want {
                    var r = SplitMix64(seed: 0)
                    let got = picker.pick(scheme, rng: &r, engines: table)
                    #expect(got == want, "\(scheme) step \(step)")
                    if got != want { return }
                }
            }
        }
    }

    @Test("two-bin through the picker favours the least recently used as ipyparallel's does")
    func twoBinDistribution() {
        let engine = ManualEngine()
        var table = EngineTable()
        var picker = EnginePicker()
        for i in 0..<3 { table.append(EngineSlot(engine: engine, info: engine.info, runsClosures: true, hwm: 0, lru: i, created: 0)) }
        picker.sync(&table, scheme: .twoBin)
        var rng = SplitMix64(seed: 3)
        var hits = [0, 0, 0]
        for _ in 0..<9000 { hits[picker.pick(.twoBin, rng: &rng, engines: table)] += 1 }
        // min of two uniform picks over 3 in LRU order: P = 5/9, 3/9, 1/9.
        #expect(hits[0] > 4500 && hits[0] < 5500)
        #expect(hits[2] > 700 && hits[2] < 1300)
    }

    @Test("1,000 in-process engines run a batch to the end, every engine taking part")
    func thousandEngines() throws {
        let client = Client(engines: 1000)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 20_000))
        #expect(ar.wait(timeout: 120))
        #expect(client.scheduler.totals.ok == 20_000)
        #expect(client.ids.count == 1000)
        // Past each engine's first task, a finishing engine takes its next one back with no wake-up.
        let back = client.scheduler.handedBack
        #expect(back >= 20_000 - 1000 - 200, "handed back \(back) of 20,000")
    }
}
