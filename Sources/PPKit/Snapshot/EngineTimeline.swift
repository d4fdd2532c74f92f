// The task stream's data: per engine, a fixed ring of one-second cells saying how busy the engine was and how the
// tasks it ran ended. Recorded when a task leaves its engine; read as a fixed number of cells, whatever the task count.

/// One second of one engine's recent history, packed in 32 bits: busy eighths (0...8), the worst outcome seen, and the
/// batch of the last task that ran in it.
public struct TimelineCell: Sendable, Hashable, Codable {
    /// What happened in the cell, worst first when several tasks share it.
    public enum Outcome: UInt8, Sendable, Hashable, CaseIterable {
        case none = 0, ok, running, aborted, timeout, error

        /// The outcome of a finished task status (pending counts as none).
        public init(_ status: TaskStatus) {
            switch status {
            case .pending: self = .none
            case .running: self = .running
            case .ok: self = .ok
            case .error: self = .error
            case .aborted: self = .aborted
            case .timeout: self = .timeout
            }
        }
    }

    public var raw: UInt32

    public init(raw: UInt32) { self.raw = raw }

    /// A cell `busy` eighths busy (clamped to 0...8), with this outcome and batch (its low 24 bits are kept).
    public init(busyEighths: Int, outcome: Outcome, batch: Int) {
        let b = UInt32(max(0, min(8, busyEighths)))
        raw = b | UInt32(outcome.rawValue) << 4 | UInt32(truncatingIfNeeded: max(0, batch) & 0xFF_FFFF) << 8
    }

    public static let idle = TimelineCell(raw: 0)

    /// Eighths of the second the engine was busy, 0...8.
    public var busyEighths: Int { Int(raw & 0xF) }
    public var outcome: Outcome { Outcome(rawValue: UInt8((raw >> 4) & 0xF)) ?? .none }
    /// The batch of the last task in the cell (low 24 bits of its id), 0 when none.
    public var batch: Int { Int(raw >> 8) }

    public init(from decoder: any Decoder) throws { raw = try decoder.singleValueContainer().decode(UInt32.self) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(raw)
    }
}

/// An engine's last seconds, oldest cell first; the last cell is the second now is in.
public struct EngineTimeline: Sendable, Hashable, Codable {
    /// Seconds per cell.
    public var cellSeconds: Double
    /// The cell number (seconds since the epoch / cellSeconds) of the last cell: lanes of one snapshot line up on it.
    public var lastCell: Int64
    public var cells: [TimelineCell]
    /// The cell the engine started in: cells before it are not idle time, the engine did not exist yet.
    public var firstCell: Int64?

    public init(cellSeconds: Double, lastCell: Int64, cells: [TimelineCell], firstCell: Int64? = nil) {
        self.cellSeconds = cellSeconds
        self.lastCell = lastCell
        self.cells = cells
        self.firstCell = firstCell
    }
}

/// The ring an engine slot keeps: busy microseconds, worst outcome and last batch per one-second cell.
struct TimelineRing: Sendable {
    /// Microseconds per cell.
    static let width: Int64 = 1_000_000
    /// Cells kept: the widest lane a terminal shows.
    static let count = 240

    private var busy: [Int32] = []
    private var codes: [UInt8] = []
    private var batches: [Int32] = []
    private var epochs: [Int64] = []

    init() {}

    /// The ring entry cell number `b` lives in (shared with `LaneRings`, whose rings line up with these).
    @inline(__always) static func entry(_ b: Int64) -> Int {
        Int(((b % Int64(count)) + Int64(count)) % Int64(count))
    }
    @inline(__always) private func entry(_ b: Int64) -> Int { Self.entry(b) }

    /// Walks the cells a run from `start` to `end` (microseconds) ending with `status` touches, as the ring keeps
    /// them: `body(cell number, busy microseconds in it, outcome code)`; only the cells the ring keeps are walked,
    /// however long (or odd: an engine's own clock) the span.
    @inline(__always) static func walk(
        from start: Int64, to end: Int64, status: TaskStatus, _ body: (_ cell: Int64, _ used: Int64, _ code: UInt8) -> Void
    ) {
        guard end >= start, start > 0 else { return }
        let window = Int64(count) * width
        var t = end.subtractingReportingOverflow(window).overflow ? start : max(start, end - window)
        let outcome = TimelineCell.Outcome(status).rawValue
        let last = end / width
        repeat {
            let b = t / width
            let (next, past) = (b + 1).multipliedReportingOverflow(by: width)
            let upto = past ? end : min(end, next)
            // The task's outcome marks the cell it ended in; the cells before show it ran (as ok until it ended).
            body(b, upto - t, b == last ? outcome : TimelineCell.Outcome.ok.rawValue)
            t = upto
        } while t < end
    }

    /// Records a task's run from `start` to `end` (microseconds), ending with `status`.
    mutating func record(from start: Int64, to end: Int64, status: TaskStatus, batch: Int) {
        guard end >= start, start > 0 else { return }
        if busy.isEmpty {
            busy = [Int32](repeating: 0, count: Self.count)
            codes = [UInt8](repeating: 0, count: Self.count)
            batches = [Int32](repeating: 0, count: Self.count)
            epochs = [Int64](repeating: -1, count: Self.count)
        }
        let b24 = Int32(truncatingIfNeeded: batch & 0xFF_FFFF)
        Self.walk(from: start, to: end, status: status) { b, used, code in
            let i = entry(b)
            if epochs[i] != b {
                epochs[i] = b
                busy[i] = 0
                codes[i] = 0
                batches[i] = 0
            }
            busy[i] = Int32(min(Self.width, Int64(busy[i]) + used))
            if code > codes[i] { codes[i] = code }
            batches[i] = b24
        }
    }

    /// Every cell the ring holds: `body(cell number, busy microseconds, outcome code, batch)` (to build lanes from).
    func forEachCell(_ body: (_ cell: Int64, _ used: Int64, _ code: UInt8, _ batch: Int32) -> Void) {
        for i in epochs.indices where epochs[i] >= 0 { body(epochs[i], Int64(busy[i]), codes[i], batches[i]) }
    }

    /// The last `count` cells up to the one `now` is in, oldest first, with a task still running since
    /// `running.since` drawn as running.
    func timeline(now: Int64, count: Int, running: (since: Int64, batch: Int)?, created: Int64? = nil) -> EngineTimeline {
        let n = max(0, min(Self.count, count))
        let last = now / Self.width
        var cells = [TimelineCell](repeating: .idle, count: n)
        for k in 0..<n { cells[k] = cell(last - Int64(n - 1 - k), now: now, running: running) }
        return EngineTimeline(
            cellSeconds: Double(Self.width) / 1e6, lastCell: last, cells: cells, firstCell: created.map { $0 / Self.width })
    }

    /// Adds the last `count` cells (as `timeline` has them) to `lane` of `acc`, making no array.
    func accumulate(
        into acc: inout LaneAccumulator, lane: Int, now: Int64, running: (since: Int64, batch: Int)?, created: Int64
    ) {
        let n = acc.width
        let last = now / Self.width
        let first = created / Self.width
        acc.member(lane: lane, absentCells: Int(max(0, min(Int64(n), first - (last - Int64(n) + 1)))))
        // An engine that never ran anything and runs nothing now adds only idle cells: nothing to add.
        if busy.isEmpty && running == nil { return }
        for k in 0..<n { acc.add(cell(last - Int64(n - 1 - k), now: now, running: running), lane: lane, at: k) }
    }

    /// Cell number `b` as a reader sees it at `now`.
    @inline(__always) private func cell(_ b: Int64, now: Int64, running: (since: Int64, batch: Int)?) -> TimelineCell {
        let last = now / Self.width
        var used: Int64 = 0
        var code: UInt8 = 0
        var batch = 0
        if !busy.isEmpty {
            let i = entry(b)
            if epochs[i] == b {
                used = Int64(busy[i])
                code = codes[i]
                batch = Int(batches[i])
            }
        }
        if let r = running, r.since > 0 {
            let lo = max(r.since, b * Self.width)
            let hi = min(now, (b + 1) * Self.width)
            if hi > lo {
                used += hi - lo
                code = max(code, TimelineCell.Outcome.running.rawValue)
                batch = r.batch
            }
        }
        // The cell now is in counts against the part of it that has passed.
        let span = b == last ? max(1, now - b * Self.width) : Self.width
        let eighths = used <= 0 ? 0 : max(1, Int((used * 8 + span / 2) / span))
        return TimelineCell(busyEighths: eighths, outcome: TimelineCell.Outcome(rawValue: code) ?? .none, batch: batch)
    }
}
