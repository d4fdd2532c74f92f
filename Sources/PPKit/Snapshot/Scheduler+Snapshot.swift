extension Scheduler {
    /// A snapshot with the requested window of the task table.
    ///
    /// Cost is flat in the number of tasks for the default order (by id, no filter); another order or a filter
    /// costs O(N) once when the query changes, then only the new tasks.
    public func snapshot(_ query: TableQuery = TableQuery()) -> Snapshot {
        let now = clock.now()
        return state.withLock { s in
            var cost = 0
            let engines = s.engines.enumerated().map { (id, e) -> EngineSnapshot in
                let state: EngineState
                if let reason = e.deathReason, !e.alive {
                    state = .dead(reason: reason)
                } else if e.draining {
                    state = .draining
                } else {
                    state = e.current != nil ? .busy : .idle
                }
                let life = max(1, now.microseconds - e.created)
                let running = e.current != nil && e.busySince > 0 ? max(0, now.microseconds - e.busySince) : 0
                return EngineSnapshot(
                    id: id, info: e.info, state: state, currentTask: e.current?.id,
                    queued: max(0, e.assigned.count - (e.current == nil ? 0 : 1)) + s.queues.pinned[id].count, done: e.done,
                    failed: e.failed, utilisation: min(1, Double(e.busyTotal + running) / Double(life)),
                    activity: e.activity(now: now.microseconds))
            }
            let firstBatch = max(0, s.tasks.batchCount - max(0, query.batchLimit))
            let batches = s.tasks.batches[firstBatch...].map { b -> BatchSnapshot in
                let end = b.isDone ? b.lastReceived : now.microseconds
                let secs = max(1e-3, Double(end - b.submitted) / 1e6)
                let rate = RateMeter.average(b.counts.done, seconds: secs)
                var eta: Double?
                if !b.isDone && b.counts.done > 0 && rate > 0 { eta = Double(b.count - b.counts.done) / rate }
                return BatchSnapshot(
                    id: b.id, label: b.options.label, counts: b.counts, submitted: Timestamp(microseconds: b.submitted),
                    finished: b.isDone && b.count > 0 ? Timestamp(microseconds: b.lastReceived) : nil, rate: rate, eta: eta)
            }
            let table = s.window(query, cost: &cost)
            s.lastSnapshotCost = cost
            return Snapshot(
                time: now, startedAt: Timestamp(microseconds: s.startedAt), generation: s.generation, paused: s.paused,
                totals: s.totals, rate: s.completions.rate(now: now.microseconds), engines: engines, batches: Array(batches),
                batchCount: s.tasks.batchCount, table: table)
        }
    }

    /// Records the last snapshot examined: the work a frame costs, for tests that count rather than time.
    public var lastSnapshotCost: Int { state.withLock { $0.lastSnapshotCost } }

    /// The current generation: equal values mean nothing changed.
    public var generation: UInt64 { state.withLock { $0.generation } }
}

extension Scheduler.State {
    func matches(_ idx: Int, _ filter: String) -> Bool {
        let r = tasks.records[idx]
        if r.status.description == filter { return true }
        if let e = r.engine, filter == "e\(e)" || filter == "engine \(e)" { return true }
        if filter == "b\(r.batch)" || filter == "batch \(r.batch)" { return true }
        if TaskSlot(idx).id.description == filter { return true }
        return text(TaskSlot(idx)).lowercased().contains(filter)
    }

    /// Whether a to-be-sorted key can change after submission (so the index must be refreshed).
    static func isLive(_ key: SortKey) -> Bool {
        switch key {
        case .id, .batch, .submitted, .text: false
        default: true
        }
    }

    func less(_ a: Int, _ b: Int, _ key: SortKey) -> Bool {
        let ra = tasks.records[a]
        let rb = tasks.records[b]
        func cmp<T: Comparable>(_ x: T, _ y: T) -> Bool { x == y ? a < b : x < y }
        switch key {
        case .id: return a < b
        case .batch: return cmp(ra.batch, rb.batch)
        case .engine: return cmp(ra.engine ?? -1, rb.engine ?? -1)
        case .status: return cmp(ra.status.rawValue, rb.status.rawValue)
        case .submitted: return cmp(ra.submitted, rb.submitted)
        case .started: return cmp(ra.started?.microseconds ?? 0, rb.started?.microseconds ?? 0)
        case .completed: return cmp(ra.completed?.microseconds ?? 0, rb.completed?.microseconds ?? 0)
        case .duration:
            let da = ra.started.flatMap { s in ra.completed.map { $0.microseconds - s.microseconds } } ?? -1
            let db = rb.started.flatMap { s in rb.completed.map { $0.microseconds - s.microseconds } } ?? -1
            return cmp(da, db)
        case .retries: return cmp(ra.retries, rb.retries)
        case .text: return cmp(text(TaskSlot(a)), text(TaskSlot(b)))
        }
    }

    mutating func window(_ q: TableQuery, cost: inout Int) -> TableWindow {
        let n = tasks.count
        let filter = q.filter.trimmingCharacters(in: .whitespaces).lowercased()
        let limit = max(0, q.limit)
        // The common case: by id, no filter: direct indexing, O(limit).
        if q.sort == .id && filter.isEmpty {
            if tableIndex != nil {
                tableIndex = nil
                changed = []
            }
            var offset = q.offset
            if q.follow {
                let anchor = newestStarted?.index ?? n - 1
                let pos = q.ascending ? anchor : n - 1 - anchor
                offset = pos - limit + 1
                if !q.ascending { offset = pos }
            }
            offset = max(0, min(offset, n - limit))
            let end = min(n, offset + limit)
            var rows = [TaskRow]()
            rows.reserveCapacity(max(0, end - offset))
            if offset < end {
                for pos in offset..<end { rows.append(row(TaskSlot(q.ascending ? pos : n - 1 - pos))) }
            }
            cost = rows.count
            return TableWindow(offset: offset, rows: rows, matching: n, total: n)
        }
        // Another order or a filter: an index, built when the query changes (O(N) once), then kept up to date
        // with only the tasks that are new or changed status.
        let live = Self.isLive(q.sort)
        let nowMicros = clock.now().microseconds
        var rebuild = true
        if let idx = tableIndex, idx.sort == q.sort, idx.filter == filter {
            rebuild = false
            if live && (!changed.isEmpty || idx.dirty) {
                // Keys move as tasks run: re-sort; cheap below 20,000 tasks, else at most every 5 s.
                if n <= 20_000 || nowMicros - idx.builtAt > 5_000_000 {
                    rebuild = true
                } else {
                    tableIndex!.dirty = true
                    changed.removeAll(keepingCapacity: true)
                }
            }
        }
        if rebuild {
            var list = [Int32]()
            list.reserveCapacity(filter.isEmpty ? n : 64)
            for i in 0..<n where filter.isEmpty || matches(i, filter) { list.append(Int32(i)) }
            let key = q.sort
            list.sort { less(Int($0), Int($1), key) }
            cost += n
            tableIndex = TableIndex(sort: q.sort, ascending: true, filter: filter, indices: list, covered: n, builtAt: nowMicros)
            changed.removeAll(keepingCapacity: true)
        } else {
            var x = tableIndex!
            tableIndex = nil  // no copy-on-write while it is edited
            if !changed.isEmpty && !filter.isEmpty && !live {
                // A stable order: re-test the changed tasks where they belong.
                for c in Set(changed) where Int(c) < x.covered {
                    let pos = insertionPoint(x.indices, Int(c), q.sort)
                    let present = pos < x.indices.count && x.indices[pos] == c
                    let match = matches(Int(c), filter)
                    if present && !match { x.indices.remove(at: pos) }
                    if !present && match { x.indices.insert(c, at: pos) }
                    cost += 1
                }
            }
            changed.removeAll(keepingCapacity: true)
            if x.covered < n {
                // New tasks: sorted among themselves, then merged in one pass.
                var fresh = [Int32]()
                for i in x.covered..<n where filter.isEmpty || matches(i, filter) { fresh.append(Int32(i)) }
                cost += n - x.covered
                let key = q.sort
                fresh.sort { less(Int($0), Int($1), key) }
                if let last = x.indices.last, let first = fresh.first, !less(Int(first), Int(last), key) {
                    x.indices.append(contentsOf: fresh)
                } else if !fresh.isEmpty {
                    var merged = [Int32]()
                    merged.reserveCapacity(x.indices.count + fresh.count)
                    var a = 0
                    var b = 0
                    while a < x.indices.count && b < fresh.count {
                        if less(Int(fresh[b]), Int(x.indices[a]), key) {
                            merged.append(fresh[b])
                            b += 1
                        } else {
                            merged.append(x.indices[a])
                            a += 1
                        }
                    }
                    merged.append(contentsOf: x.indices[a...])
                    merged.append(contentsOf: fresh[b...])
                    cost += merged.count
                    x.indices = merged
                }
                x.covered = n
            }
            tableIndex = x
        }
        let list = tableIndex!.indices
        let m = list.count
        var offset = q.offset
        if q.follow {
            let anchor = newestStarted?.index ?? -1
            let found: Int?
            if !Self.isLive(q.sort), anchor >= 0 {
                let p = insertionPoint(list, anchor, q.sort)
                found = p < m && list[p] == Int32(anchor) ? p : nil
            } else {
                found = list.firstIndex(of: Int32(anchor))
            }
            if let p = found {
                let pos = q.ascending ? p : m - 1 - p
                offset = q.ascending ? pos - limit + 1 : pos
            } else {
                offset = q.ascending ? m - limit : 0
            }
        }
        offset = max(0, min(offset, m - limit))
        let end = min(m, offset + limit)
        var rows = [TaskRow]()
        if offset < end {
            for pos in offset..<end { rows.append(row(TaskSlot(Int(list[q.ascending ? pos : m - 1 - pos])))) }
        }
        cost += rows.count
        return TableWindow(offset: offset, rows: rows, matching: m, total: n)
    }

    func insertionPoint(_ list: [Int32], _ i: Int, _ key: SortKey) -> Int {
        var lo = 0
        var hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if less(Int(list[mid]), i, key) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

import Foundation
