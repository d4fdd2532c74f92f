// GNU parallel's --timeout values, pure: seconds with time units (`1m30s`), and `N%` of the median run time of the
// tasks done so far, computed as GNU parallel 20221122 computes it (its TimeoutQueue and remedian).

import Algorithms

/// `--timeout`: a fixed number of seconds, or a percentage of the median run time of the successful tasks.
public enum GNUTimeout: Sendable, Equatable {
    case seconds(Double)
    case percent(Double)

    /// GNU parallel's forms: `N`, `N.N`, `N%`, and sums of time units (`1h30m`, `2m`, `1.5s`; s m h d); nil for
    /// anything else. A plain number also takes the forms Swift reads (`1e3`), as ppdash always did.
    public init?(_ text: String) {
        if text.hasSuffix("%") {
            let number = text.dropLast()
            guard GNUTimeout.isDecimal(number), let v = Double(number) else { return nil }
            self = .percent(v)
            return
        }
        if let last = text.last, "smhdSMHD".contains(last) {
            var total = 0.0
            var digits = Substring()
            for c in text {
                if let unit = GNUTimeout.units[Character(c.lowercased())] {
                    guard GNUTimeout.isDecimal(digits), let v = Double(digits) else { return nil }
                    total += v * unit
                    digits = Substring()
                } else {
                    digits.append(c)
                }
            }
            self = .seconds(total)
            return
        }
        guard let v = Double(text), !text.hasPrefix("+") else { return nil }
        self = .seconds(v)
    }

    static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]

    /// `\d+(\.\d+)?`
    static func isDecimal(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return false }
        return parts.count == 1 || (!parts[1].isEmpty && parts[1].allSatisfy(\.isASCIIDigit))
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// GNU parallel's median of the run times of the successful tasks (its "remedian": three levels of 999, so the
/// median of the last 999^3 values; each level's median is its lower middle element after a string sort of the
/// run times written `%.3f`, exactly as its perl does), and the time limit `--timeout N%` derives from it.
public struct GNURemedian: Sendable, Equatable {
    /// One level: its values by slot (as perl's array) and the same values kept sorted (string order).
    struct Level: Sendable, Equatable {
        var slots: [String] = []
        var sorted: [String] = []

        /// perl's `$a[$i] = $v`, slots filled in order (so `i` is never past the end).
        mutating func set(_ i: Int, _ v: String) {
            if i < slots.count {
                let old = slots[i]
                sorted.remove(at: position(of: old))
                slots[i] = v
            } else {
                slots.append(v)
            }
            sorted.insert(v, at: position(of: v))
        }

        /// The first index whose value is not below `v` (ASCII digits and a dot: String order is byte order).
        func position(of v: String) -> Int { sorted.partitioningIndex { $0 >= v } }

        /// perl's `(sort @a)[$#a/2]`: the lower middle value in string order.
        var lowerMiddle: String { sorted[(sorted.count - 1) / 2] }
    }

    private var index = 0
    private var levels = [Level(), Level(), Level()]
    /// The median so far (seconds), nil before the first value.
    public private(set) var median: Double?

    public init() {}

    /// Adds a successful task's run time (seconds; cut to milliseconds as GNU parallel records it).
    public mutating func add(_ runtime: Double) {
        let text = formatMilliseconds(runtime)
        let i = index
        index += 1
        levels[0].set(i % 999, text)
        levels[1].set((i / 999) % 999, levels[0].lowerMiddle)
        levels[2].set((i / 999 / 999) % 999, levels[1].lowerMiddle)
        median = Double(levels[2].lowerMiddle)
    }

    /// `--timeout N%`'s limit now: N% of the median; nil (no limit yet) before any task succeeded.
    public func limit(percent: Double) -> Double? { median.map { $0 * percent / 100 } }

    /// GNU parallel's `%.3f` of the run time cut (not rounded) to milliseconds.
    func formatMilliseconds(_ t: Double) -> String {
        let ms = t.isFinite ? (max(0, min(t, 1e12)) * 1000).rounded(.towardZero) : 0
        let whole = Int(ms) / 1000
        let frac = Int(ms) % 1000
        let f = String(frac)
        return "\(whole)." + String(repeating: "0", count: 3 - f.count) + f
    }

    /// Whether a finished task's run time counts (GNU parallel: its exit value is 0; a task a signal ended has exit
    /// value 0 there too, a timed-out or aborted one -1).
    public static func counts(_ m: TaskMetadata) -> Bool {
        switch m.status {
        case .ok: true
        case .error: m.signal != nil && (m.exitStatus ?? 0) == 0
        default: false
        }
    }
}
