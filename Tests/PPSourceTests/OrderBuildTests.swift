import PPKit
import Testing

@testable import PPSource

/// The ready orders built a bounded number of rows per upkeep step (`OrderBuild`, `TableIndexCache.prepare`): the
/// same orders as brute force, and no step examines more rows than its budget (counts, not time).
@Suite("Orders built in bounded steps")
struct OrderBuildTests {
    typealias Columns = TableAgreementTests.FoldedColumns

    static func randomKey(_ rng: inout SplitMix64) -> TaskKey {
        let status = TaskStatus.allCases.randomElement(using: &rng)!
        // Wide spreads (several radix passes), ties, and extreme values.
        var started: Int64 = status == .pending ? 0 : Int64.random(in: 1...(1 << 40), using: &rng)
        if started > 0 && Int.random(in: 0..<100, using: &rng) == 0 { started = Int64.max / 4 }
        return TaskKey(
            batch: Int32.random(in: 1...3, using: &rng), seq: 1, engine: Int32.random(in: -1...300, using: &rng),
            status: status, retries: UInt16.random(in: 0...2, using: &rng),
            submitted: Int64.random(in: -5...(1 << 22), using: &rng), started: started,
            completed: status.isFinished ? started + Int64.random(in: 0...100_000, using: &rng) : 0)
    }

    /// ASCII texts: a shared head, numbers of every length, equal texts, and runs whose first 8 bytes past the head
    /// are equal but which differ later, out of index order (each run far shorter than a step).
    static func randomText(_ rng: inout SplitMix64) -> String {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: "x \(Int.random(in: 0..<100_000, using: &rng))"
        case 1: "x longword_\(Int.random(in: 0..<400, using: &rng))"
        case 2: "x Longword_\(Int.random(in: 0..<400, using: &rng)) y"
        default: ["x noop", "x ", "x", "x ab", "x abcdefgh", "x abcdefghi"].randomElement(using: &rng)!
        }
    }

    static func columns(_ n: Int, _ rng: inout SplitMix64) -> Columns {
        var c = Columns()
        for _ in 0..<n { c.append(randomKey(&rng), randomText(&rng)) }
        return c
    }

    @Test("every sort key's order built in steps of 4,096 rows equals brute force; no step examines more")
    func stepsBoundedAndExact() {
        var rng = SplitMix64(seed: 23)
        let n = 24_000
        let c = Self.columns(n, &rng)
        let budget = 4096
        var scratch: OrderBuild.Scratch?
        for sort in TableIndexCache.readyKeys {
            var b = OrderBuild(sort: sort, n: n, scratch: scratch)
            var steps = 0
            var total = 0
            while true {
                var cost = 0
                let done = b.advance(c, budget: budget, cost: &cost)
                steps += 1
                total += cost
                #expect(cost <= budget, "by \(sort), step \(steps): \(cost) rows")
                if done { break }
                if steps > 10_000 { break }
            }
            // At least the values (or the texts' shared bytes and numbers) went in several steps.
            #expect(steps >= n / budget, "by \(sort): \(steps) steps")
            #expect(total >= n, "by \(sort)")
            let (order, left) = b.finish()
            scratch = left
            #expect(order.map(Int.init) == TableAgreementTests.bruteOrder(c, sort), "by \(sort)")
        }
    }

    @Test("runs of equal first bytes out of order, of every length (an odd or even number of merge passes), merge-sorted in steps")
    func runsOfEveryLength() {
        var rng = SplitMix64(seed: 41)
        for length in [2, 31, 32, 33, 64, 65, 100, 1000, 3000, 5000] {
            var c = Columns()
            // "z" makes the shared bytes none; every "abcdefgh..." text has the same first 8 bytes: one run.
            c.append(Self.randomKey(&rng), "z")
            for _ in 0..<length { c.append(Self.randomKey(&rng), "abcdefgh \(Int.random(in: 0..<(length / 2 + 1), using: &rng))") }
            c.append(Self.randomKey(&rng), "b")
            var b = OrderBuild(sort: .text, n: c.taskCount, scratch: nil)
            var steps = 0
            while steps < 100_000 {
                var cost = 0
                let done = b.advance(c, budget: 1024, cost: &cost)
                steps += 1
                #expect(cost <= 1024, "run of \(length)")
                if done { break }
            }
            #expect(b.finish().order.map(Int.init) == TableAgreementTests.bruteOrder(c, .text), "run of \(length)")
        }
    }

    @Test("the text order with non-ASCII bytes in the compared bytes (sorted by comparison) equals brute force")
    func nonASCIITexts() {
        var rng = SplitMix64(seed: 5)
        var c = Columns()
        for _ in 0..<5000 {
            c.append(Self.randomKey(&rng), (TableAgreementTests.pool + ["x été", "x \u{212A}", "x"]).randomElement(using: &rng)!)
        }
        var b = OrderBuild(sort: .text, n: c.taskCount, scratch: nil)
        var cost = 0
        var steps = 0
        while !b.advance(c, budget: 1024, cost: &cost) && steps < 1000 { steps += 1 }
        #expect(b.finish().order.map(Int.init) == TableAgreementTests.bruteOrder(c, .text))
    }

    @Test("upkeep steps stay within stepRows while orders are built, brought up to date and built again; tasks changed mid-build are right")
    func upkeepBounded() {
        var rng = SplitMix64(seed: 31)
        var c = Self.columns(20_000, &rng)
        var cache = TableIndexCache()
        cache.stepRows = 4096
        func check(_ what: String) {
            for sort in SortKey.allCases {
                var cost = 0
                let w = cache.window(c, TableQuery(sort: sort, limit: 50), anchor: nil, cost: &cost)
                let want = TableAgreementTests.bruteOrder(c, sort)
                #expect(w.matching == c.taskCount && w.rows.map { Int($0.id.rawValue) - 1 } == Array(want.prefix(50)), "\(what): by \(sort)")
                if sort != .id {
                    #expect(cache.ready.first { $0.index.sort == sort }?.index.order.map(Int.init) == want, "\(what): by \(sort)")
                }
            }
        }
        func change(_ k: Int) {
            var changed = [Int32]()
            for _ in 0..<k {
                let i = Int.random(in: 0..<c.keys.count, using: &rng)
                c.keys[i] = Self.randomKey(&rng)
                changed.append(Int32(i))
            }
            cache.note(changed)
        }
        /// Upkeep until done; returns the steps taken. Tasks change and come `midway` steps in.
        func upkeep(midway: Int?) -> Int {
            var steps = 0
            while steps < 10_000 {
                var cost = 0
                let more = cache.prepare(c, cost: &cost)
                steps += 1
                #expect(cost <= cache.stepRows, "step \(steps): \(cost) rows")
                if steps == midway {
                    change(300)
                    for _ in 0..<200 { c.append(Self.randomKey(&rng), Self.randomText(&rng)) }
                }
                if !more { break }
            }
            return steps
        }
        // Orders built in steps, tasks changed and added in the middle of a build.
        let first = upkeep(midway: 7)
        #expect(cache.building == nil && cache.ready.count == TableIndexCache.readyKeys.count)
        #expect(first > 9 * (20_000 / 4096), "built in steps: \(first)")
        check("built in steps")
        // A few changes with room in a step: each order brought up to date in place, one per step.
        cache.stepRows = 1 << 16
        change(40)
        #expect(upkeep(midway: nil) == TableIndexCache.readyKeys.count, "one step per order")
        check("brought up to date in place")
        // Too many changes for a step: built again in steps (the old order served meanwhile).
        cache.stepRows = 8192
        change(3000)
        #expect(upkeep(midway: 2) > TableIndexCache.readyKeys.count)
        check("built again")
        // A sort asked for while its order is half-built: the build finished there, the same rows.
        cache.note(nil)
        var cost = 0
        _ = cache.prepare(c, cost: &cost)
        _ = cache.prepare(c, cost: &cost)
        let half = cache.building?.sort
        #expect(half != nil)
        if let half {
            let w = cache.window(c, TableQuery(sort: half, limit: 50), anchor: nil, cost: &cost)
            #expect(w.rows.map { Int($0.id.rawValue) - 1 } == Array(TableAgreementTests.bruteOrder(c, half).prefix(50)))
            #expect(cache.building == nil)
        }
    }
}
