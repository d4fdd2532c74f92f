/// How many task records ppdash asks the hub for in one poll cycle.
///
/// Every record the hub returns costs it a deep copy of the whole record (DictDB's `_match`), a few hundred µs of
/// Python each, whatever keys are asked. In a flood that is about one copy per task, which is most of what watching
/// costs the controller. During a flood (many tasks seen on IOPub alone, which shows their starts and completions
/// at once) the records are fetched under a budget instead: a token bucket of `perSecond`, spent oldest task first
/// by msg_id (`$in` copies only those records), and the query for waiting tasks (whose size cannot be capped) is
/// sent only while the bucket is not in debt, at most every `waitingEvery` seconds, its records charged when they
/// arrive. Once the flood has been calm for `calmFor` seconds, the cycle goes back to the full queries, which catch
/// up on every record the hub still holds.
public struct RecordBudget: Sendable, Equatable {
    /// Records per second the hub is asked for during a flood.
    public var perSecond: Double = 40
    /// Tasks per second first seen on IOPub (no record yet) above which the cycle is in a flood.
    public var floodRate: Double = 40
    /// Seconds below `floodRate` before the flood is over.
    public var calmFor: Double = 2
    /// The most tokens saved up.
    public var burst: Double = 40
    /// Seconds between waiting-task queries during a flood.
    public var waitingEvery: Double = 5

    public private(set) var tokens: Double = 40
    public private(set) var inFlood = false
    var last: Double?
    var calmSince: Double?
    var nextWaiting: Double = 0

    /// At most `perSecond` records a second during a flood (0: none until it is over, then one catch-up).
    public init(perSecond: Double = 40) {
        self.perSecond = perSecond
        burst = perSecond > 0 ? max(1, perSecond) : 0
        tokens = burst
    }

    /// Every record, flood or not: the full queries every cycle (each record costs the hub a deep copy: about
    /// +15-30% of a flooded controller's CPU).
    public static var unlimited: RecordBudget {
        var b = RecordBudget()
        b.floodRate = .infinity
        return b
    }

    /// What to ask this cycle.
    public enum Plan: Sendable, Equatable {
        /// Today's queries: waiting and finished since the cutoffs (every record the hub holds, once).
        case full
        /// The `fetch` oldest record-pending tasks by msg_id, and the waiting query when `waiting`.
        case flood(fetch: Int, waiting: Bool)
    }

    /// The plan for a cycle starting at `now` (seconds), given the tasks first seen on IOPub since the last cycle
    /// (`newPending`) and how many rows wait for their record (`backlog`). Fetches planned are spent at once.
    public mutating func plan(now: Double, newPending: Int, backlog: Int) -> Plan {
        let dt = last.map { max(0, now - $0) } ?? 0
        last = now
        tokens = min(burst, tokens + dt * perSecond)
        let rate = dt > 0 ? Double(max(0, newPending)) / dt : 0
        if rate > floodRate {
            inFlood = true
            calmSince = nil
        } else if inFlood {
            if let c = calmSince {
                if now - c >= calmFor { inFlood = false }
            } else {
                calmSince = now
            }
        }
        guard inFlood else {
            calmSince = nil
            return .full
        }
        var waiting = false
        if now >= nextWaiting, tokens >= 0 {
            waiting = true
            nextWaiting = now + waitingEvery
        }
        let fetch = max(0, min(backlog, Int(tokens.rounded(.down))))
        tokens -= Double(fetch)
        return .flood(fetch: fetch, waiting: waiting)
    }

    /// Gives back tokens planned for records not asked for after all.
    public mutating func refund(_ records: Int) {
        tokens = min(burst, tokens + Double(max(0, records)))
    }

    /// Charges records the hub returned to a query whose size was not planned (the waiting query).
    public mutating func spend(_ records: Int) {
        tokens -= Double(max(0, records))
    }
}
