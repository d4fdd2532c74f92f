// The one table query every source uses: the `/` filter language, the sort, the window and follow mode.
import Foundation
import PPKit
import Synchronization

/// A source's tasks as the table query reads them, by 0-based index.
public protocol TaskColumns {
    var taskCount: Int { get }
    /// The columns the table sorts and filters by.
    func key(_ i: Int) -> TaskKey
    /// The command or the call, for display and the filter's text search.
    func text(_ i: Int) -> String
    /// An id from elsewhere (ipyparallel's msg_id) the filter matches by prefix; nil where the task id is the only one.
    func externalId(_ i: Int) -> String?
    func row(_ i: Int) -> TaskRow
    /// Which tasks a `/` search for `needle` (lower case) finds, one flag per task, in one pass over texts the source
    /// keeps ready (`FoldedTexts`); nil: the filter tests each task.
    func searchMatches(_ needle: String) -> [Bool]?
}

extension TaskColumns {
    public func searchMatches(_ needle: String) -> [Bool]? { nil }
}

/// The `/` filter, parsed once per change.
///
/// Words that all name columns select by every one of them: a status (`pending running ok error aborted timeout`,
/// `failed` for error, aborted or timeout, `done` for finished), an engine (`e3`, `engine 3`), a batch (`b2`,
/// `batch 2`), a task (`17`, `#17`). Anything else is searched, case-insensitively, in the command text and at the
/// start of the msg_id; `"..."` quotes a search (`"ok"` finds commands containing ok).
public struct TaskFilter: Sendable, Hashable {
    enum Term: Hashable {
        case status(TaskStatus)
        case failed, done
        case engine(Int32)
        case batch(Int32)
        case task(Int)
        /// Any of these tasks (`#3,17,42`: the triage view's group).
        case tasks(Set<Int>)
    }
    var terms: [Term] = []
    /// The lowercased text searched for, when the filter is a search.
    var search: String?

    public var isEmpty: Bool { terms.isEmpty && search == nil }

    /// The language, for the help screen: examples and what they select.
    public static let syntax: [(example: String, meaning: String)] = [
        ("ok  error", "a status: pending running ok error aborted timeout, failed or done"),
        ("e3  engine 3", "the tasks of engine 3"),
        ("b2  batch 2", "the tasks of batch 2"),
        ("17  #17", "task 17"),
        ("#3,17,42", "tasks 3, 17 and 42 (what Enter in the failure triage shows)"),
        ("running e3", "words that all name columns: tasks matching every one"),
        ("sleep 1", "anything else: text in the command (any case) or a msg_id's start"),
        ("\"ok\"", "quoted: a text search, even for a column's word"),
    ]

    public init(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return }
        if t.count >= 2, t.hasPrefix("\""), t.hasSuffix("\"") {
            search = String(t.dropFirst().dropLast()).lowercased()
            return
        }
        let lower = t.lowercased()
        let words = lower.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        var i = 0
        while i < words.count {
            let w = words[i]
            func number(_ s: Substring) -> Int32? { s.allSatisfy(\.isASCII) ? Int32(s).flatMap { $0 >= 0 ? $0 : nil } : nil }
            if let s = TaskStatus(name: w) {
                terms.append(.status(s))
            } else if w == "failed" {
                terms.append(.failed)
            } else if w == "done" {
                terms.append(.done)
            } else if w == "engine" || w == "batch", i + 1 < words.count, let n = number(words[i + 1][...]) {
                terms.append(w == "engine" ? .engine(n) : .batch(n))
                i += 1
            } else if w.hasPrefix("e"), let n = number(w.dropFirst()) {
                terms.append(.engine(n))
            } else if w.hasPrefix("b"), let n = number(w.dropFirst()) {
                terms.append(.batch(n))
            } else if w.contains(","), case let parts = (w.hasPrefix("#") ? w.dropFirst() : w[...]).split(separator: ","),
                !parts.isEmpty, case let ids = parts.compactMap({ number($0) }), ids.count == parts.count
            {
                terms.append(.tasks(Set(ids.map(Int.init))))
            } else if let n = number(w.hasPrefix("#") ? w.dropFirst() : w[...]), n > 0 {
                terms.append(.task(Int(n)))
            } else {
                terms = []
                search = lower
                return
            }
            i += 1
        }
    }

    /// Whether task `i` of `c` passes.
    public func matches<C: TaskColumns>(_ c: C, _ i: Int) -> Bool {
        if let search {
            if Self.contains(c.text(i), folded: search) { return true }
            return c.externalId(i)?.lowercased().hasPrefix(search) ?? false
        }
        let k = c.key(i)
        for t in terms {
            switch t {
            case .status(let s): if k.status != s { return false }
            case .failed: if !k.status.isFailure { return false }
            case .done: if !k.status.isFinished { return false }
            case .engine(let e): if k.engine != e { return false }
            case .batch(let b): if k.batch != b { return false }
            case .task(let n): if i + 1 != n { return false }
            case .tasks(let set): if !set.contains(i + 1) { return false }
            }
        }
        return true
    }

    /// Which of tasks `0..<n` pass, one flag per task, in one pass in task order (a search over the source's
    /// folded texts when it keeps them): what a filter over many rows reads, instead of a test per row in sort order.
    func matchMap<C: TaskColumns>(_ c: C, upto n: Int) -> [Bool] {
        if let search, let m = c.searchMatches(search), m.count == n { return m }
        var out = [Bool](repeating: false, count: n)
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<n where matches(c, i) { o[i] = true }
        }
        return out
    }

    /// Whether `text` contains `needle` (already lowercased), ignoring case; no allocation for an ASCII needle.
    static func contains(_ text: String, folded needle: String) -> Bool {
        guard needle.utf8.allSatisfy({ $0 < 0x80 }) else { return text.lowercased().contains(needle) }
        let n = Array(needle.utf8)
        guard let first = n.first else { return true }
        var text = text
        return text.withUTF8 { h in
            guard h.count >= n.count else { return false }
            func fold(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            var i = 0
            let last = h.count - n.count
            while i <= last {
                if fold(h[i]) == first {
                    var j = 1
                    while j < n.count && fold(h[i + j]) == n[j] { j += 1 }
                    if j == n.count { return true }
                }
                i += 1
            }
            return false
        }
    }
}

/// Sorted, filtered task indices for one sort key and filter: built once when they change, then kept up to date
/// with only the tasks that are new or changed.
public struct TableIndex: Sendable {
    public let sort: SortKey
    public let filter: TaskFilter
    /// Matching task indices, ascending by the sort key, then by index.
    var order: [Int32] = []
    /// Tasks examined so far; newer ones are merged in.
    var covered = 0

    /// Rows examined by the last `window` call (the index's upkeep and the rows built): what a frame costs.
    public static func window<C: TaskColumns>(
        _ c: C, _ q: TableQuery, index: inout TableIndex?, changed: [Int32]?, anchor: Int?, cost: inout Int
    ) -> TableWindow {
        let n = c.taskCount
        let filter = TaskFilter(q.filter)
        var order: [Int32]?
        if !(q.sort == .id && filter.isEmpty) {
            if var x = index, x.sort == q.sort, x.filter == filter, x.covered <= n, let changed {
                index = nil  // no copy-on-write while it is edited
                x.update(c, changed: changed, upto: n, cost: &cost)
                index = x
            } else {
                var x = TableIndex(sort: q.sort, filter: filter)
                x.update(c, changed: [], upto: n, cost: &cost)
                index = x
            }
            order = index?.order
        } else {
            index = nil
        }
        let m = order?.count ?? n
        var anchorPosition: Int?
        if let a = anchor, a >= 0, a < n {
            if let order, let x = index {
                anchorPosition = x.position(of: a, in: order, c)
            } else {
                anchorPosition = a
            }
        }
        let offset = q.windowOffset(matching: m, anchorPosition: anchorPosition)
        let end = min(m, offset + max(0, q.limit))
        var rows = [TaskRow]()
        if offset < end {
            rows.reserveCapacity(end - offset)
            for pos in offset..<end {
                let p = q.ascending ? pos : m - 1 - pos
                rows.append(c.row(order.map { Int($0[p]) } ?? p))
            }
        }
        cost += rows.count
        return TableWindow(offset: offset, rows: rows, matching: m, total: n)
    }

    init(sort: SortKey, filter: TaskFilter) {
        self.sort = sort
        self.filter = filter
    }

    /// A task's sort value as a number (every key but the text).
    static func value(_ k: TaskKey, _ i: Int, _ sort: SortKey) -> Int64 {
        switch sort {
        case .id, .text: Int64(i)
        case .batch: Int64(k.batch)
        case .engine: Int64(k.engine)
        case .status: Int64(k.status.rawValue)
        case .submitted: k.submitted
        case .started: k.started
        case .completed: k.completed
        // A running task sorts by its live duration: after every finished one (it is still going), the one started
        // first last. Fixed while it runs, so the index stays valid as time passes.
        case .duration: k.completed > 0 || k.started <= 0 ? k.duration : (Int64(1) << 62) - k.started
        case .retries: Int64(k.retries)
        }
    }

    func less<C: TaskColumns>(_ c: C, _ a: Int, _ b: Int) -> Bool {
        if sort == .id { return a < b }
        if sort == .text {
            let (x, y) = (c.text(a), c.text(b))
            return x == y ? a < b : x < y
        }
        let x = Self.value(c.key(a), a, sort)
        let y = Self.value(c.key(b), b, sort)
        return x == y ? a < b : x < y
    }

    /// Sorts task indices (given ascending) by the key, taking each task's value once (a source's key may be dear
    /// to make): numbers by a stable radix sort (O(n): a million in a few milliseconds), text by comparison with an
    /// ASCII prefix read once per task.
    func sortIndices<C: TaskColumns>(_ c: C, _ list: inout [Int32]) {
        if sort == .id {
            if !Self.isAscending(list) { list.sort() }
            return
        }
        if let (minimum, probe) = sortProbe.withLock({ $0 }), list.count >= minimum { probe(list.count) }
        if !Self.isAscending(list) { list.sort() }
        if sort == .text {
            sortByText(c, &list)
        } else {
            let key = sort
            let values = list.map { Self.value(c.key(Int($0)), Int($0), key) }
            Self.radixSort(&list, values: values)
        }
    }

    static func isAscending(_ list: [Int32]) -> Bool {
        var prev = Int32.min
        for i in list {
            if i < prev { return false }
            prev = i
        }
        return true
    }

    /// Sorts by text as `String`'s `<` does, ties by index. Past the bytes every text shares (a template's
    /// words), the next 8 bytes of each are a number: when they are ASCII in every text, a radix sort on them orders
    /// all but the runs of equal numbers, which are sorted by comparison; else a comparison sort, the numbers first.
    func sortByText<C: TaskColumns>(_ c: C, _ list: inout [Int32]) {
        let texts = list.map { c.text(Int($0)) }
        guard let first = texts.first else { return }
        // The bytes all texts share.
        let head = Array(first.utf8)
        var shared = head.count
        for t in texts where shared > 0 {
            var k = 0
            for b in t.utf8 {
                if k == shared || b != head[k] { break }
                k += 1
            }
            shared = k
        }
        var windows = [UInt64]()
        windows.reserveCapacity(texts.count)
        var allASCII = true
        for t in texts {
            let (w, ascii) = Self.window(t, from: shared)
            windows.append(w)
            allASCII = allASCII && ascii
        }
        if allASCII {
            // Radix on the windows (stable: ties keep index order), then each run of equal windows by its texts.
            var order = Array(0..<Int32(list.count))
            Self.radixSort(&order, values: windows.map { Int64(bitPattern: $0 ^ (1 << 63)) })
            var out = [Int32]()
            out.reserveCapacity(list.count)
            var a = 0
            while a < order.count {
                var b = a + 1
                while b < order.count && windows[Int(order[b])] == windows[Int(order[a])] { b += 1 }
                if b - a > 1 {
                    let run = order[a..<b].sorted { x, y in
                        let (tx, ty) = (texts[Int(x)], texts[Int(y)])
                        return tx == ty ? x < y : tx < ty
                    }
                    for k in run { out.append(list[Int(k)]) }
                } else {
                    out.append(list[Int(order[a])])
                }
                a = b
            }
            list = out
            return
        }
        var pairs: [(window: UInt64, ascii: Bool, i: Int32, k: Int)] = texts.indices.map { k in
            let (w, ascii) = Self.window(texts[k], from: shared)
            return (w, ascii, list[k], k)
        }
        pairs.sort { a, b in
            // Both windows ASCII and different: byte order is the strings' order.
            if a.ascii && b.ascii && a.window != b.window { return a.window < b.window }
            let (x, y) = (texts[a.k], texts[b.k])
            return x == y ? a.i < b.i : x < y
        }
        list = pairs.map(\.i)
    }

    /// 8 UTF-8 bytes of `s` from byte `from` as a big-endian number (zero-padded past its end), and whether they are
    /// all ASCII: then, after bytes two strings share, different numbers order them as `<` does.
    static func window(_ s: String, from: Int) -> (UInt64, Bool) {
        var v: UInt64 = 0
        var n = 0
        var ascii = true
        for b in s.utf8.dropFirst(from) {
            if n == 8 { break }
            if b >= 0x80 { ascii = false }
            v = v << 8 | UInt64(b)
            n += 1
        }
        return (n == 0 ? 0 : v << (8 * UInt64(8 - n)), ascii)
    }

    /// Sorts `list` by `values` (parallel to it), stably: equal values keep their order. LSD radix sort on digits of
    /// at most 11 bits of the values' spread (so only the bits that differ cost a pass, and a pass's 2,048 buckets
    /// stay in cache as it scatters); short lists sort by comparison.
    static func radixSort(_ list: inout [Int32], values: [Int64]) {
        let n = list.count
        guard n > 1 else { return }
        // Order-preserving unsigned form.
        var lo = UInt64.max
        var hi = UInt64.min
        for v in values {
            let u = UInt64(bitPattern: v) ^ (1 << 63)
            lo = min(lo, u)
            hi = max(hi, u)
        }
        if lo == hi { return }
        if n < 4096 {
            var pairs = Array(zip(values, list))
            pairs.sort { a, b in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
            list = pairs.map(\.1)
            return
        }
        let bits = 64 - (hi - lo).leadingZeroBitCount
        let passes = (bits + 10) / 11
        let digitBits = (bits + passes - 1) / passes
        let buckets = 1 << digitBits
        let mask = UInt64(buckets - 1)
        var keys = values.map { (UInt64(bitPattern: $0) ^ (1 << 63)) - lo }
        var keys2 = [UInt64](repeating: 0, count: n)
        var list2 = [Int32](repeating: 0, count: n)
        var counts = [Int](repeating: 0, count: buckets)
        for pass in 0..<passes {
            let shift = UInt64(digitBits * pass)
            let scattered = keys.withUnsafeBufferPointer { k in
                list.withUnsafeBufferPointer { l in
                    keys2.withUnsafeMutableBufferPointer { k2 in
                        list2.withUnsafeMutableBufferPointer { l2 in
                            counts.withUnsafeMutableBufferPointer { cnt in
                                for d in 0..<buckets { cnt[d] = 0 }
                                for j in 0..<n { cnt[Int((k[j] >> shift) & mask)] += 1 }
                                // Every value has this digit: the pass would move nothing.
                                if cnt[Int((k[0] >> shift) & mask)] == n { return false }
                                var sum = 0
                                for d in 0..<buckets {
                                    let x = cnt[d]
                                    cnt[d] = sum
                                    sum += x
                                }
                                for j in 0..<n {
                                    let d = Int((k[j] >> shift) & mask)
                                    let at = cnt[d]
                                    cnt[d] = at + 1
                                    k2[at] = k[j]
                                    l2[at] = l[j]
                                }
                                return true
                            }
                        }
                    }
                }
            }
            if scattered {
                swap(&keys, &keys2)
                swap(&list, &list2)
            }
        }
    }

    /// Brings the index up to `n` tasks: changed tasks leave and are re-tested, new ones are tested; those that
    /// match are sorted among themselves and merged in: O(n) copying plus O(changed log n) comparisons.
    mutating func update<C: TaskColumns>(_ c: C, changed: [Int32], upto n: Int, cost: inout Int) {
        var fresh = [Int32]()
        if !changed.isEmpty && covered > 0 {
            let covered = self.covered
            var mask = [Bool](repeating: false, count: covered)
            var moved = [Int32]()
            for i in changed where Int(i) < covered && i >= 0 && !mask[Int(i)] {
                mask[Int(i)] = true
                moved.append(i)
            }
            if !moved.isEmpty {
                order.removeAll { mask[Int($0)] }
                cost += order.count + moved.count
                moved.sort()
                for i in moved where filter.matches(c, Int(i)) { fresh.append(i) }
            }
        }
        if covered < n, filter.search != nil, covered == 0, n >= 4096, let map = c.searchMatches(filter.search!),
            map.count == n
        {
            // A first search over many tasks: one scan of the folded texts.
            for i in 0..<n where map[i] { fresh.append(Int32(i)) }
            cost += n
            covered = n
        } else if covered < n {
            for i in covered..<n where filter.isEmpty || filter.matches(c, i) { fresh.append(Int32(i)) }
            cost += n - covered
            covered = n
        }
        guard !fresh.isEmpty else { return }
        sortIndices(c, &fresh)
        if let last = order.last, !less(c, Int(fresh[0]), Int(last)) {
            order.append(contentsOf: fresh)
            return
        }
        if order.isEmpty {
            order = fresh
            return
        }
        // Each fresh task's place found by binary search; the runs between are copied whole.
        var merged = [Int32]()
        merged.reserveCapacity(order.count + fresh.count)
        var a = 0
        for f in fresh {
            var lo = a
            var hi = order.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if less(c, Int(order[mid]), Int(f)) { lo = mid + 1 } else { hi = mid }
                cost += 1
            }
            merged.append(contentsOf: order[a..<lo])
            merged.append(f)
            a = lo
        }
        merged.append(contentsOf: order[a...])
        cost += fresh.count
        order = merged
    }

    /// Where task `i` sits in `order`, if it matches: a binary search (the order is exact for the keys held).
    func position<C: TaskColumns>(of i: Int, in order: [Int32], _ c: C) -> Int? {
        var lo = 0
        var hi = order.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if less(c, Int(order[mid]), i) { lo = mid + 1 } else { hi = mid }
        }
        return lo < order.count && order[lo] == Int32(i) ? lo : nil
    }
}

extension TableQuery {
    /// The window's first position among `matching` rows. Follow mode ends the window at the anchor (the newest
    /// started task) when it is among them, else at the last row; the offset is clamped either way.
    func windowOffset(matching m: Int, anchorPosition p: Int?) -> Int {
        let limit = max(0, self.limit)
        var offset = self.offset
        if follow {
            if let p {
                let pos = ascending ? p : m - 1 - p
                offset = ascending ? pos - limit + 1 : pos
            } else {
                offset = ascending ? m - limit : 0
            }
        }
        return max(0, min(offset, m - limit))
    }

    /// The default view (by id, no filter): rows by position, no index.
    var isDirect: Bool { sort == .id && (filter.isEmpty || TaskFilter(filter).isEmpty) }
}

extension TaskFilter {
    /// Whether every task this filter matches is one `wider` matches (a keystroke more, a term added): then this
    /// filter's rows are found among `wider`'s, in the same order.
    func narrows(_ wider: TaskFilter) -> Bool {
        if wider.isEmpty { return true }
        if let s = search, let w = wider.search { return s.hasPrefix(w) }
        if search == nil && wider.search == nil { return Set(wider.terms).isSubset(of: Set(terms)) }
        return false
    }
}

extension TableIndex {
    /// This index's rows that `narrower` matches, in the same order: a filter keystroke tests the rows already
    /// matching, not every task.
    func narrowed<C: TaskColumns>(to narrower: TaskFilter, _ c: C, cost: inout Int) -> TableIndex {
        var x = TableIndex(sort: sort, filter: narrower)
        if narrower.isEmpty {
            x.order = order
        } else if order.count >= 4096 && order.count >= covered / 8 && covered <= c.taskCount {
            // Many rows: the filter's flags in one pass in task order, then the rows picked in their order.
            let map = narrower.matchMap(c, upto: covered)
            x.order = map.withUnsafeBufferPointer { m in order.filter { m[Int($0)] } }
            cost += covered  // tasks tested
        } else {
            x.order = order.filter { narrower.matches(c, Int($0)) }
            cost += order.count
        }
        x.covered = covered
        return x
    }

    /// Runs `body` with the rows it sorts each time a sort of at least `minimum` rows starts (a test's probe that
    /// the scheduler is free meanwhile); nil removes it.
    public static func whileSorting(minimum: Int, _ body: (@Sendable (Int) -> Void)?) {
        sortProbe.withLock { $0 = body.map { (minimum, $0) } }
    }
}

/// See `TableIndex.whileSorting`.
let sortProbe = Mutex<(Int, @Sendable (Int) -> Void)?>(nil)

/// The table indexes of the last few orders and filters, each kept up to date with the tasks changed since it was
/// used: going back to a sort key or a filter costs only those, and a filter that narrows a kept one (a keystroke
/// more) tests only that one's rows. Flipping, scrolling and jumping never touch an index.
public struct TableIndexCache: Sendable {
    struct Entry: Sendable {
        var index: TableIndex
        /// Tasks changed since the index was last brought up to date; nil: too many, it is rebuilt when used.
        var pending: [Int32]?
    }
    /// Most recently used first.
    var entries: [Entry] = []
    /// The unfiltered order of each sort key (but id, which needs none) once built, kept apart from `entries` and
    /// never evicted (one Int32 per task each): a sort change reads a ready order, a filter narrows one.
    var ready: [Entry] = []
    /// The ready order being built a step at a time (`OrderBuild`), and the arrays a finished build left for the
    /// next one (dropped once the upkeep is done).
    var building: OrderBuild?
    var scratch: OrderBuild.Scratch?
    /// Rows one upkeep step (`prepare`) examines at most (a text row counts `OrderBuild.textWeight`): a million
    /// keys' values or one radix pass over them is a few milliseconds.
    public var stepRows = 1 << 20
    /// Indexes kept (each holds up to one Int32 per task).
    public static let capacity = 6
    /// Changes remembered per kept index; past this it is dropped.
    public static let pendingLimit = 1 << 20

    public init() {}

    /// Notes tasks whose keys changed (nil: every key may have, e.g. the source started over).
    public mutating func note(_ changed: [Int32]?) {
        guard let changed else {
            entries.removeAll()
            ready.removeAll()
            building = nil
            return
        }
        guard !changed.isEmpty else { return }
        if let p = building?.pending {
            if p.count + changed.count <= Self.pendingLimit {
                building?.pending?.append(contentsOf: changed)
            } else {
                building = nil  // started again by the next `prepare`
            }
        }
        entries.removeAll { e in (e.pending?.count ?? Self.pendingLimit) + changed.count > Self.pendingLimit }
        for k in entries.indices { entries[k].pending?.append(contentsOf: changed) }
        for k in ready.indices {
            if let p = ready[k].pending, p.count + changed.count <= Self.pendingLimit {
                ready[k].pending?.append(contentsOf: changed)
            } else {
                ready[k].pending = nil  // rebuilt by the next `prepare` or use
            }
        }
    }

    /// The sort keys `prepare` keeps an unfiltered order for.
    static let readyKeys = SortKey.allCases.filter { $0 != .id }

    /// Whether `prepare` has something left to do for `n` tasks.
    func unprepared(_ n: Int) -> (missing: SortKey?, stale: Int?) {
        if n == 0 { return (nil, nil) }
        for key in Self.readyKeys where !ready.contains(where: { $0.index.sort == key && $0.pending != nil }) {
            return (key, nil)
        }
        var stale: (k: Int, behind: Int)?
        for (k, e) in ready.enumerated() {
            let behind = (e.pending?.count ?? 0) + max(0, n - e.index.covered)
            if behind > 0 && behind > (stale?.behind ?? 0) { stale = (k, behind) }
        }
        return (nil, stale?.k)
    }

    /// One step of upkeep between frames, at most `stepRows` rows: a step of building the unfiltered order of a sort
    /// key that has none (`OrderBuild`: a half-built order is never used), else of bringing the one furthest behind
    /// up to date (in place when the order and the tasks it lacks fit in a step, else built again in steps while the
    /// old one stays usable); returns whether more is left. A sort change then reads a ready order, and a filter
    /// narrows one (one pass, no sort). `cost`: rows examined.
    public mutating func prepare<C: TaskColumns>(_ c: C, cost: inout Int) -> Bool {
        let n = c.taskCount
        if building == nil {
            switch unprepared(n) {
            case (let key?, _):
                building = OrderBuild(sort: key, n: n, scratch: scratch)
                scratch = nil
            case (nil, let k?):
                let e = ready[k]
                let behind = (e.pending?.count ?? 0) + max(0, n - e.index.covered)
                // In place: the order copied once and each task it lacks placed by a binary search (`update`).
                guard e.index.order.count + 32 * behind <= stepRows else {
                    building = OrderBuild(sort: e.index.sort, n: n, scratch: scratch)
                    scratch = nil
                    break
                }
                var x = e
                ready[k].index.order = []  // no copy-on-write while it is edited
                x.index.update(c, changed: x.pending ?? [], upto: n, cost: &cost)
                x.pending = []
                ready[k] = x
                let left = unprepared(n)
                return left.missing != nil || left.stale != nil
            case (nil, nil):
                scratch = nil  // the upkeep is done: its arrays go
                return false
            }
        }
        advanceBuild(c, budget: stepRows, cost: &cost)
        let left = unprepared(n)
        return building != nil || left.missing != nil || left.stale != nil
    }

    /// Goes on with the order being built for at most `budget` rows; a finished one becomes ready, with the tasks
    /// changed meanwhile pending.
    mutating func advanceBuild<C: TaskColumns>(_ c: C, budget: Int, cost: inout Int) {
        guard var b = building else { return }
        building = nil  // no copy-on-write while it goes on
        guard b.advance(c, budget: budget, cost: &cost) else {
            building = b
            return
        }
        let (sort, covered, pending) = (b.sort, b.n, b.pending ?? [])
        let (order, left) = b.finish()
        scratch = left
        var x = TableIndex(sort: sort, filter: TaskFilter(""))
        x.order = order
        x.covered = covered
        ready.removeAll { $0.index.sort == sort }
        ready.append(Entry(index: x, pending: pending))
    }

    /// The one table query (see `TableIndex.window`), from a kept index where one fits.
    public mutating func window<C: TaskColumns>(_ c: C, _ q: TableQuery, anchor: Int?, cost: inout Int) -> TableWindow {
        let filter = TaskFilter(q.filter)
        var index: TableIndex?
        var pending: [Int32]?
        if building?.sort == q.sort, !ready.contains(where: { $0.index.sort == q.sort && $0.pending != nil }) {
            // Asked for before its first build is done: finished now, from where the upkeep left it.
            advanceBuild(c, budget: .max / 4, cost: &cost)
        }
        let readyAt = ready.firstIndex { $0.index.sort == q.sort && $0.pending != nil }
        if let k = entries.firstIndex(where: { $0.index.sort == q.sort && $0.index.filter == filter }) {
            let e = entries.remove(at: k)
            (index, pending) = (e.index, e.pending)
        } else if filter.isEmpty, let k = readyAt {
            let e = ready.remove(at: k)
            (index, pending) = (e.index, e.pending)
        } else if let k = entries.firstIndex(where: { $0.index.sort == q.sort && filter.narrows($0.index.filter) }) {
            (index, pending) = (entries[k].index.narrowed(to: filter, c, cost: &cost), entries[k].pending)
        } else if let k = readyAt {
            (index, pending) = (ready[k].index.narrowed(to: filter, c, cost: &cost), ready[k].pending)
        }
        let w = TableIndex.window(c, q, index: &index, changed: pending, anchor: anchor, cost: &cost)
        if let index {
            if index.filter.isEmpty && index.sort != .id {
                ready.removeAll { $0.index.sort == index.sort }
                ready.append(Entry(index: index, pending: []))
            } else {
                entries.insert(Entry(index: index, pending: []), at: 0)
                if entries.count > Self.capacity { entries.removeLast() }
            }
        }
        return w
    }
}
