// The one table query every source uses: the `/` filter language, the sort, the window and follow mode.
import Foundation
import PPKit

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

    /// Sorts task indices by the key, taking each task's value once (a source's key may be dear to make).
    func sortIndices<C: TaskColumns>(_ c: C, _ list: inout [Int32]) {
        if sort == .id { return list.sort() }
        if sort == .text {
            var pairs: [(text: String, i: Int32)] = list.map { (c.text(Int($0)), $0) }
            pairs.sort { a, b in a.text == b.text ? a.i < b.i : a.text < b.text }
            list = pairs.map(\.i)
        } else {
            let key = sort
            var pairs: [(value: Int64, i: Int32)] = list.map { (Self.value(c.key(Int($0)), Int($0), key), $0) }
            pairs.sort { a, b in a.value == b.value ? a.i < b.i : a.value < b.value }
            list = pairs.map(\.i)
        }
    }

    /// Brings the index up to `n` tasks: changed tasks leave and are re-tested, new ones are tested; those that
    /// match are sorted among themselves and merged in one pass.
    mutating func update<C: TaskColumns>(_ c: C, changed: [Int32], upto n: Int, cost: inout Int) {
        var fresh = [Int32]()
        if !changed.isEmpty && covered > 0 {
            let covered = self.covered
            let moved = Set(changed.filter { Int($0) < covered })
            if !moved.isEmpty {
                order.removeAll { moved.contains($0) }
                cost += order.count + moved.count
                for i in moved where filter.matches(c, Int(i)) { fresh.append(i) }
            }
        }
        if covered < n {
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
        var merged = [Int32]()
        merged.reserveCapacity(order.count + fresh.count)
        var a = 0
        var b = 0
        while a < order.count && b < fresh.count {
            if less(c, Int(fresh[b]), Int(order[a])) {
                merged.append(fresh[b])
                b += 1
            } else {
                merged.append(order[a])
                a += 1
            }
        }
        merged.append(contentsOf: order[a...])
        merged.append(contentsOf: fresh[b...])
        cost += merged.count
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
