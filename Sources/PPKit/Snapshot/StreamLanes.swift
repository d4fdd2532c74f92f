// The task stream's lanes, aggregated where the timelines live: with more engines than the pane has rows, engines
// share lanes (one per host when the hosts fit, else k consecutive engines a lane), and the snapshot carries only
// those lanes, never a timeline per engine.

/// One lane of the task stream: its label, its cells (oldest first, the last one the second the snapshot was taken
/// in), and how many of the first cells are from before its engine(s) existed (drawn blank, not idle).
public struct StreamLane: Sendable, Hashable, Codable {
    public var label: String
    public var cells: [TimelineCell]
    public var absent: Int
    public init(label: String, cells: [TimelineCell], absent: Int = 0) {
        self.label = label
        self.cells = cells
        self.absent = absent
    }
}

/// How engines were put into lanes.
public enum LaneGrouping: Sendable, Hashable, Codable {
    case perEngine
    case byHost
    case every(Int)
}

/// The task stream of one snapshot: lanes ending on the same second.
public struct StreamLanes: Sendable, Hashable, Codable {
    public var grouping: LaneGrouping
    /// The cell number of the last cell (seconds since the epoch).
    public var lastCell: Int64
    public var lanes: [StreamLane]
    public init(grouping: LaneGrouping, lastCell: Int64, lanes: [StreamLane]) {
        self.grouping = grouping
        self.lastCell = lastCell
        self.lanes = lanes
    }

    /// How `count` engines on these hosts (one entry per engine, in id order) go into at most `rows` lanes: one per
    /// engine when they fit; else one per host when the hosts fit (and there are several); else `k` consecutive
    /// engines a lane. Returns the grouping and each engine's lane, and the lanes' hosts when by host.
    public static func assign(hosts: [String], rows: Int) -> (grouping: LaneGrouping, lane: [Int], laneHosts: [String]) {
        let rows = max(1, rows)
        let n = hosts.count
        if n <= rows { return (.perEngine, Array(0..<n), []) }
        var order: [String] = []
        var index: [String: Int] = [:]
        let lane = hosts.map { h -> Int in
            if let l = index[h] { return l }
            index[h] = order.count
            order.append(h)
            return order.count - 1
        }
        if order.count > 1 && order.count <= rows { return (.byHost, lane, order) }
        let k = (n + rows - 1) / rows
        return (.every(k), (0..<n).map { $0 / k }, [])
    }
}

/// Sums engines' cells into lanes: the mean busy level, the worst outcome, the newest batch (what a merged lane
/// shows). One pass, no timeline per engine made.
public struct LaneAccumulator: Sendable {
    public let width: Int
    private var busy: [Int]
    private var worst: [UInt8]
    private var batch: [Int]
    private var members: [Int]
    private var absent: [Int]

    public init(lanes: Int, width: Int) {
        self.width = max(0, width)
        busy = [Int](repeating: 0, count: lanes * self.width)
        worst = [UInt8](repeating: 0, count: lanes * self.width)
        batch = [Int](repeating: 0, count: lanes * self.width)
        members = [Int](repeating: 0, count: lanes)
        absent = [Int](repeating: Int.max, count: lanes)
    }

    /// Adds one engine's cell `i` (0 = oldest) to `lane`.
    @inline(__always) public mutating func add(_ c: TimelineCell, lane: Int, at i: Int) {
        let k = lane * width + i
        busy[k] += c.busyEighths
        let o = c.outcome.rawValue
        if o > worst[k] { worst[k] = o }
        if c.batch > batch[k] { batch[k] = c.batch }
    }

    /// Notes one more engine in `lane`, `absentCells` of its first cells from before it existed.
    public mutating func member(lane: Int, absentCells: Int) {
        members[lane] += 1
        absent[lane] = min(absent[lane], absentCells)
    }

    /// Adds a whole timeline (aligned: its last cell is the lane's last) to `lane`.
    public mutating func add(_ cells: [TimelineCell], lane: Int, absentCells: Int) {
        member(lane: lane, absentCells: absentCells)
        let shift = width - cells.count
        for (j, c) in cells.enumerated() where j + shift >= 0 { add(c, lane: lane, at: j + shift) }
    }

    /// The lane's cells.
    public func cells(_ lane: Int) -> [TimelineCell] {
        let n = max(1, members[lane])
        return (0..<width).map { i in
            let k = lane * width + i
            let b = busy[k]
            let mean = b == 0 ? 0 : max(1, (b + n / 2) / n)
            return TimelineCell(busyEighths: mean, outcome: TimelineCell.Outcome(rawValue: worst[k]) ?? .none, batch: batch[k])
        }
    }

    public func absentCells(_ lane: Int) -> Int { absent[lane] == Int.max ? 0 : absent[lane] }
}
