import PPKit
import Testing

@testable import PPSource

/// The fast paths of the table query (orders kept ready between frames, filters narrowed from them with one pass in
/// task order, a search as one scan of folded texts) against brute force: the same rows in the same order.
@Suite("Table fast paths agree with brute force")
struct TableAgreementTests {
    /// Tasks with keys a test changes at will, and folded texts as a `LocalSource` keeps them.
    struct FoldedColumns: TaskColumns {
        var keys: [TaskKey] = []
        var texts: [String] = []
        var folded = FoldedTexts()
        var taskCount: Int { keys.count }
        func key(_ i: Int) -> TaskKey { keys[i] }
        func text(_ i: Int) -> String { texts[i] }
        func externalId(_ i: Int) -> String? { nil }
        func row(_ i: Int) -> TaskRow { TaskRow(index: i, key: keys[i], text: texts[i]) }
        func searchMatches(_ needle: String) -> [Bool]? { folded.matches(needle) }
        mutating func append(_ k: TaskKey, _ t: String) {
            keys.append(k)
            texts.append(t)
            folded.append(t)
        }
        /// The same tasks without the folded texts: every filter tests each task (today's path, the reference).
        var plain: TableQueryTests.Columns { TableQueryTests.Columns(keys: keys, texts: texts) }
    }

    /// Task indices in ascending order of `sort`, ties by index: written out field by field, apart from the
    /// table's own code.
    static func bruteOrder(_ c: FoldedColumns, _ sort: SortKey) -> [Int] {
        func duration(_ k: TaskKey) -> Int64 {
            if k.completed > 0 { return k.started > 0 ? k.completed - k.started : -1 }
            if k.started <= 0 { return -1 }
            return (Int64(1) << 62) - k.started  // running: after every finished task, the earliest started last
        }
        func less(_ a: Int, _ b: Int) -> Bool {
            let (x, y) = (c.keys[a], c.keys[b])
            switch sort {
            case .id: return a < b
            case .text: return c.texts[a] == c.texts[b] ? a < b : c.texts[a] < c.texts[b]
            case .batch: return x.batch == y.batch ? a < b : x.batch < y.batch
            case .engine: return x.engine == y.engine ? a < b : x.engine < y.engine
            case .status: return x.status.rawValue == y.status.rawValue ? a < b : x.status.rawValue < y.status.rawValue
            case .submitted: return x.submitted == y.submitted ? a < b : x.submitted < y.submitted
            case .started: return x.started == y.started ? a < b : x.started < y.started
            case .completed: return x.completed == y.completed ? a < b : x.completed < y.completed
            case .duration: return duration(x) == duration(y) ? a < b : duration(x) < duration(y)
            case .retries: return x.retries == y.retries ? a < b : x.retries < y.retries
            }
        }
        return c.keys.indices.sorted(by: less)
    }

    static let pool = [
        "sleep 1", "Sleep 2", "sleep 10", "echo a", "echo B", "ECHO ok", "noop", "", "été", "ÉTÉ k", "x\u{212A}y",
        "grep -i Foo bar.txt", "xab", "cdx", "e1 ok", "run 0042", "run 42",
    ]
    /// Keystroke sequences as typed and erased, and filters that narrow nothing.
    static let filters = [
        "", "s", "sl", "sle", "sleep", "sleep ", "sleep 1", "sleep ", "sl", "", "e", "e1", "e1 ", "e1 o", "e1 ok", "e1 o",
        "e1", "e", "", "ok", "failed", "failed b2", "b2", "#3,17,42", "17", "\"ok\"", "K", "k", "é", "ÉT", "bc", "x", "xa",
        "done e2", "running", "pending", "ru", "run", "run 4", "run 42", "\"\"",
    ]

    @Test("ready orders, narrowed filters and the folded search give brute force's rows, every sort key, both ways, ties included")
    func agreesWithBruteForce() {
        var rng = SplitMix64(seed: 17)
        func randomKey() -> TaskKey {
            let status = TaskStatus.allCases.randomElement(using: &rng)!
            var started: Int64 = status == .pending ? 0 : Int64.random(in: 1...40, using: &rng)
            if started > 0 && Int.random(in: 0..<50, using: &rng) == 0 { started = Int64.max / 4 }
            return TaskKey(
                batch: Int32.random(in: 1...3, using: &rng), seq: 1, engine: Int32.random(in: -1...3, using: &rng),
                status: status, retries: UInt16.random(in: 0...2, using: &rng),
                submitted: Int64.random(in: 1...4, using: &rng), started: started,
                completed: status.isFinished ? started + Int64.random(in: 0...9, using: &rng) : 0)
        }
        var c = FoldedColumns()
        func grow(_ k: Int) {
            for _ in 0..<k { c.append(randomKey(), Self.pool.randomElement(using: &rng)!) }
        }
        // Enough tasks for the one-pass filter and the folded search (4,096 rows and up), small enough for a debug build.
        grow(6000)
        var cache = TableIndexCache()
        var checked = 0
        for round in 0..<3 {
            // Upkeep between frames: all of it in round 0, some in round 1, none in round 2 (orders behind).
            var steps = 0
            var cost = 0
            while steps < (round == 0 ? 100 : round == 1 ? 4 : 0), cache.prepare(c, cost: &cost) { steps += 1 }
            if round == 0 {
                #expect(cache.ready.count == SortKey.allCases.count - 1, "an order per sort key but id")
                #expect(!cache.prepare(c, cost: &cost), "nothing left")
            }
            let orders = Dictionary(uniqueKeysWithValues: SortKey.allCases.map { ($0, Self.bruteOrder(c, $0)) })
            // Which tasks each filter matches, tested task by task on the plain columns: once per filter and round
            // (the tasks do not change within a round), not once per sort key as well.
            let plain = c.plain
            var matchesOf: [String: [Bool]] = [:]
            for filter in Self.filters where matchesOf[filter] == nil {
                let f = TaskFilter(filter)
                matchesOf[filter] = plain.keys.indices.map { f.matches(plain, $0) }
            }
            for sort in SortKey.allCases.shuffled(using: &rng) {
                for filter in Self.filters {
                    let ascending = Bool.random(using: &rng)
                    let q = TableQuery(
                        sort: sort, ascending: ascending, filter: filter, offset: Int.random(in: 0..<7000, using: &rng),
                        limit: 30)
                    var cost = 0
                    let w = cache.window(c, q, anchor: nil, cost: &cost)
                    let f = TaskFilter(filter)
                    let matches = matchesOf[filter]!
                    let want = orders[sort]!.filter { matches[$0] }
                    #expect(w.matching == want.count, "round \(round) /\(filter) by \(sort)")
                    // The whole order the query used.
                    if !(sort == .id && f.isEmpty) {
                        let used =
                            f.isEmpty
                            ? cache.ready.first { $0.index.sort == sort }?.index.order
                            : cache.entries.first?.index.order
                        #expect(used?.map(Int.init) == want, "round \(round) /\(filter) by \(sort)")
                        if used?.map(Int.init) != want { return }
                    }
                    // The window's rows, in the direction asked.
                    let shown = ascending ? want : want.reversed()
                    let end = min(shown.count, w.offset + 30)
                    #expect(w.rows.map { Int($0.id.rawValue) - 1 } == Array(shown[min(w.offset, end)..<end]))
                    checked += 1
                }
            }
            // Tasks change and new ones come between rounds: the ready orders fall behind.
            var changed: [Int32] = []
            for _ in 0..<300 {
                let i = Int.random(in: 0..<c.keys.count, using: &rng)
                c.keys[i] = randomKey()
                changed.append(Int32(i))
            }
            cache.note(changed)
            grow(500)
        }
        #expect(checked == 3 * SortKey.allCases.count * Self.filters.count)
    }

    @Test("the folded search finds what TaskFilter.contains finds, never across two texts, and declines non-ASCII needles")
    func foldedSearch() {
        var f = FoldedTexts()
        let texts = ["xab", "cdx", "", "ÉTÉ k", "x\u{212A}y", "Hello World", "hello", "a\u{0}b", "ab"]
        for t in texts { f.append(t) }
        for needle in ["bc", "b", "x", "k", "hello", "world", "o w", "ab", "a", "t", "xab", "cdxab", "é"] {
            let want = texts.map { TaskFilter.contains($0, folded: needle) }
            if needle.utf8.allSatisfy({ $0 < 0x80 }) {
                #expect(f.matches(needle) == want, "\(needle)")
            } else {
                #expect(f.matches(needle) == nil, "\(needle): the caller tests each text")
            }
        }
        #expect(f.matches("bc") == [false, false, false, false, false, false, false, false, false], "no match across texts")
        #expect(f.matches("") == Array(repeating: true, count: texts.count))
        #expect(f.matches("a\u{0}") == nil, "a 0 byte could cross a text's end")
        #expect(FoldedTexts().matches("a") == [])
    }
}
