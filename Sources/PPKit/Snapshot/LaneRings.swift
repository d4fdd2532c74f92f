// The task stream's aggregated lanes kept as tasks end: with more engines than the pane has rows, a frame with the
// stream shown reads one ring per lane (lanes x cells), not every engine's ring (engines x cells).

/// One ring per lane of one-second cells (as `TimelineRing`, lined up on the same entries): the busy microseconds of
/// the lane's engines summed, the worst outcome, the newest batch. Built from the engines' rings when a reader first
/// asks for aggregated lanes (and again when the engine count or the lane rows change), then kept up to date by
/// `record` as each task leaves its engine. Dropped when no reader asked for `idleLimit`: no upkeep while the stream
/// is hidden.
struct LaneRings {
    /// What the rings were built for; nil: off.
    private(set) var built: (engines: Int, rows: Int)?
    private(set) var grouping: LaneGrouping = .perEngine
    /// Each engine's lane.
    private var lane: [Int32] = []
    private(set) var labels: [String] = []
    /// Engines per lane, and the earliest creation among them (the lane's cells before it are blank, not idle).
    private var members: [Int] = []
    private var created: [Int64] = []
    /// `lanes x TimelineRing.count`, entry `lane * count + TimelineRing.entry(cell)`.
    private var busy: [Int64] = []
    private var codes: [UInt8] = []
    private var batches: [Int32] = []
    private var epochs: [Int64] = []
    /// When a reader last asked (microseconds, the scheduler's clock).
    private var lastRead: Int64 = 0
    /// Rings nobody read for this long are dropped (30 s).
    static let idleLimit: Int64 = 30_000_000

    var laneCount: Int { labels.count }

    /// Adds a run that just left `engine` (what `TimelineRing.record` adds to the engine's own ring) to its lane.
    @inline(__always) mutating func record(engine: Int, from start: Int64, to end: Int64, status: TaskStatus, batch: Int) {
        guard built != nil else { return }
        if end > lastRead, end - lastRead > Self.idleLimit {
            self = LaneRings()
            return
        }
        // An engine added since the build: the next read rebuilds from the engines' rings, this run included.
        guard engine < lane.count else { return }
        let l = Int(lane[engine])
        let b24 = Int32(truncatingIfNeeded: batch & 0xFF_FFFF)
        TimelineRing.walk(from: start, to: end, status: status) { b, used, code in merge(l, b, used, code, b24) }
    }

    /// Adds one engine cell to lane `l`'s ring: a cell newer than the entry holds starts it over; an older one (a
    /// late report of a run that ended before another engine's newer one reused the entry) is past the window.
    @inline(__always) private mutating func merge(_ l: Int, _ b: Int64, _ used: Int64, _ code: UInt8, _ batch: Int32) {
        let k = l * TimelineRing.count + TimelineRing.entry(b)
        if epochs[k] != b {
            guard epochs[k] < b else { return }
            epochs[k] = b
            busy[k] = 0
            codes[k] = 0
            batches[k] = 0
        }
        busy[k] += used
        if code > codes[k] { codes[k] = code }
        if batch > batches[k] { batches[k] = batch }
    }

    /// Builds the rings for `rows` lanes from every engine's ring (O(engines x ring cells), once per change of the
    /// engine count or the rows), unless they are built for those already.
    mutating func ensure(_ engines: EngineTable, rows: Int, now: Int64) {
        lastRead = now
        if let b = built, b.engines == engines.count, b.rows == rows { return }
        let n = engines.count
        let (grouping, lane, laneHosts) = StreamLanes.assign(hosts: engines.map(\.info.host), rows: rows)
        let lanes = grouping == .byHost ? laneHosts.count : (lane.last ?? -1) + 1
        var fresh = LaneRings()
        fresh.built = (n, rows)
        fresh.grouping = grouping
        fresh.lane = lane.map { Int32($0) }
        fresh.members = [Int](repeating: 0, count: lanes)
        fresh.created = [Int64](repeating: .max, count: lanes)
        fresh.busy = [Int64](repeating: 0, count: lanes * TimelineRing.count)
        fresh.codes = [UInt8](repeating: 0, count: lanes * TimelineRing.count)
        fresh.batches = [Int32](repeating: 0, count: lanes * TimelineRing.count)
        fresh.epochs = [Int64](repeating: -1, count: lanes * TimelineRing.count)
        fresh.lastRead = now
        var firstId = [Int](repeating: -1, count: lanes)
        var lastId = [Int](repeating: -1, count: lanes)
        for id in 0..<n {
            let l = lane[id]
            if firstId[l] < 0 { firstId[l] = id }
            lastId[l] = id
            fresh.members[l] += 1
            fresh.created[l] = min(fresh.created[l], engines[id].created)
            engines[id].timeline.forEachCell { b, used, code, batch in fresh.merge(l, b, used, code, batch) }
        }
        fresh.labels = (0..<lanes).map { l in
            if grouping == .byHost { return laneHosts[l].isEmpty ? "?" : laneHosts[l] }
            return firstId[l] == lastId[l] ? String(firstId[l]) : "\(firstId[l])-\(lastId[l])"
        }
        self = fresh
    }

    /// The lanes' last `cells` cells at `now`, with the running tasks (`running`: engine, since, batch) drawn as
    /// running: O(lanes x cells + running tasks), whatever the engine count.
    func lanes(now: Int64, cells: Int, running: [(engine: Int, since: Int64, batch: Int)]) -> [StreamLane] {
        let width = max(0, min(TimelineRing.count, cells))
        let w = TimelineRing.width
        let last = now / w
        let first = last - Int64(width) + 1
        let count = laneCount
        // Running tasks, O(1) each: the partial first cell directly, the full cells after it as a difference (one
        // prefix sum per lane below), the cell now is in up to now; "running" and the newest batch from its first
        // shown cell on.
        var runUsed = [Int64](repeating: 0, count: count * (width + 1))
        var runFull = [Int64](repeating: 0, count: count * (width + 1))
        var runFrom = [Int32](repeating: 0, count: count * (width + 1))
        var runBatch = [Int](repeating: 0, count: count * (width + 1))
        for r in running where r.since > 0 && r.engine < lane.count && width > 0 {
            let l = Int(lane[r.engine])
            let base = l * (width + 1)
            let startCell = r.since / w
            if startCell > last { continue }
            let from = Int(max(0, startCell - first))
            if startCell >= first {
                // The cell it started in: from `since` to the cell's end (or now).
                runUsed[base + from] += min(now, (startCell + 1) * w) - r.since
            }
            // Full cells after the first one, up to the one before now's.
            let fullFrom = startCell >= first ? from + 1 : 0
            if fullFrom < width - 1 {
                runFull[base + fullFrom] += w
                runFull[base + width - 1] -= w
            }
            if startCell < last { runUsed[base + width - 1] += now - last * w }
            runFrom[base + from] += 1
            runBatch[base + from] = max(runBatch[base + from], r.batch & 0xFF_FFFF)
        }
        return (0..<count).map { l in
            let base = l * (width + 1)
            let n = Int64(max(1, members[l]))
            var out = [TimelineCell](repeating: .idle, count: width)
            var full: Int64 = 0
            var runs: Int32 = 0
            var newest = 0
            for k in 0..<width {
                let b = first + Int64(k)
                full += runFull[base + k]
                runs += runFrom[base + k]
                newest = max(newest, runBatch[base + k])
                var used = runUsed[base + k] + full
                var code: UInt8 = runs > 0 ? TimelineCell.Outcome.running.rawValue : 0
                var batch = runs > 0 ? newest : 0
                let e = l * TimelineRing.count + TimelineRing.entry(b)
                if !epochs.isEmpty, epochs[e] == b {
                    used += busy[e]
                    code = max(code, codes[e])
                    batch = max(batch, Int(batches[e]))
                }
                // The cell now is in counts against the part of it that has passed.
                let span = b == last ? max(1, now - b * w) : w
                let eighths = used <= 0 ? 0 : max(1, Int(min(8, (used * 8 + span * n / 2) / (span * n))))
                out[k] = TimelineCell(
                    busyEighths: eighths, outcome: TimelineCell.Outcome(rawValue: code) ?? .none, batch: batch)
            }
            let firstCell = created[l] == .max ? first : created[l] / w
            let absent = Int(max(0, min(Int64(width), firstCell - first)))
            return StreamLane(label: labels[l], cells: out, absent: absent)
        }
    }
}
