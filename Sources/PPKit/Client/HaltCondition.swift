/// When a batch's halt policy fires (GNU parallel's `--halt when,fail=N|N%,success=N|N%,done=N|N%`): after `count`
/// tasks, or `percent`% of the batch's tasks, have failed, succeeded or finished. No condition (nil) is GNU's
/// `fail=1`: the first failure.
public struct HaltCondition: Sendable, Hashable {
    /// What is counted.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Tasks not ok (an error, a timeout, aborted).
        case fail
        /// Tasks ok.
        case success
        /// Tasks finished, ok or not.
        case done
    }

    /// How many.
    public enum Threshold: Sendable, Hashable {
        case count(Int)
        /// Of the batch's tasks (a stream's tasks read so far).
        case percent(Int)
    }

    public var kind: Kind
    public var threshold: Threshold

    public init(_ kind: Kind, _ threshold: Threshold) {
        self.kind = kind
        self.threshold = threshold
    }

    /// The number of tasks that makes it fire in a batch of `total` tasks (GNU: `total * pct / 100`, compared with
    /// `>=`, so 50% of 5 fires at 3).
    public func limit(total: Int) -> Double {
        switch threshold {
        case .count(let n): Double(n)
        case .percent(let p): Double(total) * Double(p) / 100
        }
    }

    /// The counted number, from a batch's counts.
    public func counted(_ c: StatusCounts) -> Int {
        switch kind {
        case .fail: c.failed
        case .success: c.ok
        case .done: c.done
        }
    }

    /// True once `counts` reach it in a batch of `total` tasks. A count of 0 or 0% never fires (GNU's `never`).
    public func reached(_ counts: StatusCounts, total: Int) -> Bool {
        let limit = limit(total: total)
        return limit > 0 && Double(counted(counts)) >= limit
    }

    /// GNU parallel's text: `fail=3`, `success=50%`.
    public var text: String {
        switch threshold {
        case .count(let n): "\(kind.rawValue)=\(n)"
        case .percent(let p): "\(kind.rawValue)=\(p)%"
        }
    }

    /// Parses GNU parallel's forms; the error says what is wrong.
    /// GNU parallel's `--halt` forms: `never`, `now|soon[,fail|success|done=N|N%]`, the old numbers (`0` `1` `2`
    /// `-1` `-2`, `N%`); `now`/`soon` alone (ppdash's) is the first failure. Returns when (nil: never) and the
    /// condition (nil: the first failure).
    public static func parse(_ text: String) throws(SweepError) -> (when: HaltPolicy?, condition: HaltCondition?) {
        let expanded: String =
            switch text {
            case "0": "never"
            case "1": "soon,fail=1"
            case "2": "now,fail=1"
            case "-1": "soon,success=1"
            case "-2": "now,success=1"
            default: text.hasSuffix("%") && Int(text.dropLast()) != nil ? "soon,fail=" + text : text
            }
        let parts = expanded.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let when: HaltPolicy?
        switch parts[0] {
        case "never": when = nil
        case "now": when = .now
        case "soon": when = .soon
        default: throw SweepError("--halt \(text): give never, now or soon, then ,fail=N, ,success=N or ,done=N (N or N%)")
        }
        guard parts.count == 2 else { return (when, nil) }
        guard when != nil else { throw SweepError("--halt \(text): 'never' takes no condition") }
        let kv = parts[1].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard kv.count == 2, let kind = HaltCondition.Kind(rawValue: kv[0]) else {
            throw SweepError("--halt \(text): after \(parts[0]), give fail=N, success=N or done=N (N or N%)")
        }
        var value = kv[1]
        let percent = value.hasSuffix("%")
        if percent { value.removeLast() }
        guard let n = Int(value), n >= 0, !value.hasPrefix("+"), n <= (percent ? 100 : 1_000_000_000) else {
            throw SweepError("--halt \(text): \(kv[0])= takes a whole number (or a percentage from 0% to 100%)")
        }
        return (when, HaltCondition(kind, percent ? .percent(n) : .count(n)))
    }

}
