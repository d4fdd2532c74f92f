/// An engine as the scheduler tracks it.
struct EngineSlot {
    let engine: any Engine
    let info: EngineInfo
    let runsClosures: Bool
    var hwm: Int
    var alive = true
    var draining = false
    /// Excluded by the user from new work (it finishes what it holds); included again at will.
    var excluded = false
    /// Its worker said it is leaving: no new work; its death is reported as a death (not a removal).
    var leaving = false
    /// Adopted before it can run anything (a queued batch job): no work until `engineReady`.
    var held = false
    var deathReason: String?
    /// Tasks handed over and not reported finished, oldest first.
    var assigned: [TaskSlot] = []
    /// What `assigned` costs against the high-water mark (see `TaskWork.hwmCost`).
    var load = 0
    var current: TaskSlot?
    var lru: Int
    var done = 0
    var failed = 0
    var created: Int64
    var busySince: Int64 = 0
    var busyTotal: Int64 = 0
    /// Busy microseconds per 5 s bucket over the last minute.
    var busy = BucketRing(width: 5_000_000, count: 12)
    /// One-second cells of the last few minutes, for the task stream (`EngineTimeline`).
    var timeline = TimelineRing()

    var capacity: Int {
        guard alive && !draining && !leaving && !excluded && !held else { return 0 }
        return hwm == 0 ? Int.max : max(0, hwm - load)
    }

    /// Is handed `slot`, which costs `cost` against the mark, as its `lru`-th use (one change of the slot).
    mutating func take(_ slot: TaskSlot, cost: Int, lru: Int) {
        assigned.append(slot)
        load += cost
        self.lru = lru
    }

    /// Begins running `slot` (one change of the slot).
    mutating func running(_ slot: TaskSlot, since: Int64) {
        current = slot
        busySince = since
    }

    /// Takes back the task at `pos` of `assigned` (its `cost` against the mark); if it was the running one, its run
    /// up to `completed` goes into the busy time and the timeline, and is returned for the task stream's aggregated
    /// lanes (`LaneRings`, outside the slot). One change of the slot (each change through `EngineTable`'s subscript
    /// is counted and noted for the picker).
    mutating func release(at pos: Int, cost: Int, completed: Int64, status: TaskStatus, batch: Int) -> (from: Int64, to: Int64)? {
        let slot = assigned.remove(at: pos)
        load -= cost
        guard current == slot else { return nil }
        current = nil
        addBusy(from: busySince, to: completed)
        timeline.record(from: busySince, to: completed, status: status, batch: batch)
        defer { busySince = 0 }
        return (busySince, completed)
    }

    mutating func addBusy(from start: Int64, to end: Int64) {
        guard end > start else { return }
        // An engine's clock is its own (a worker may report anything): the total saturates, and only the buckets
        // the ring keeps are walked, however long the span.
        let (span, overflow) = end.subtractingReportingOverflow(start)
        busyTotal = overflow || busyTotal.addingReportingOverflow(span).overflow ? .max : busyTotal + span
        let window = Int64(busy.count + 1) * busy.width
        var t = end.subtractingReportingOverflow(window).overflow ? start : max(start, end - window)
        while t < end {
            let b = t / busy.width
            let (next, past) = (b + 1).multipliedReportingOverflow(by: busy.width)
            let upto = past ? end : min(end, next)
            busy.add(upto - t, bucket: b)
            t = upto
        }
    }

    /// Busy fraction per bucket over the last minute, oldest first, counting a task still running: the ring's sums
    /// plus the running span's overlap with each bucket (no copy of the slot: a frame reads this for every engine).
    func activity(now: Int64) -> [Double] {
        let w = busy.width
        let nowBucket = now / w
        let running = current != nil && busySince > 0 && now > busySince
        var out = [Double]()
        out.reserveCapacity(busy.count)
        for k in (0..<Int64(busy.count)).reversed() {
            let b = nowBucket - k
            let lo = b * w
            let span = k == 0 ? max(1, now - lo) : w
            var sum = busy.sum(b)
            if running {
                let s = max(busySince, lo)
                let e = min(now, lo + w)
                if e > s { sum += e - s }
            }
            out.append(min(1, Double(sum) / Double(span)))
        }
        return out
    }
}

extension TaskWork {
    /// Slots a task takes in an engine's high-water mark. A no-op takes 1, so a deep mark (64 on worker processes)
    /// pipelines no-ops past the round trip; any other task takes half the mark, so at most one waits behind the
    /// running one and a busy engine cannot hoard tasks an idle one could start (least-load stays fair).
    func hwmCost(hwm: Int) -> Int {
        if case .builtin(.noop) = self { return 1 }
        return max(1, hwm / 2)
    }
}
