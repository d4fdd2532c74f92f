import Glibc
import PPSystem

/// A wall-clock instant in microseconds since the Unix epoch: what task metadata records.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Double) { self.microseconds = Int64((seconds * 1_000_000).rounded()) }

    public var seconds: Double { Double(microseconds) / 1_000_000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    /// Seconds from `self` to `later` (negative if `later` is earlier).
    public func seconds(to later: Timestamp) -> Double { Double(later.microseconds - microseconds) / 1_000_000 }

    public func adding(seconds: Double) -> Timestamp {
        Timestamp(microseconds: microseconds + Int64((seconds * 1_000_000).rounded()))
    }

    /// ISO 8601 in UTC with microseconds: `2026-11-29T10:12:20.123456Z`.
    public var iso8601: String {
        var secs = Int(microseconds.quotientAndRemainder(dividingBy: 1_000_000).quotient)
        var micros = Int(microseconds % 1_000_000)
        if micros < 0 { micros += 1_000_000; secs -= 1 }
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let rem = secs - days * 86_400
        let (y, m, d) = Timestamp.civil(fromDays: days)
        return String(
            format4(y) + "-" + pad2(m) + "-" + pad2(d) + "T" + pad2(rem / 3600) + ":" + pad2(rem / 60 % 60) + ":"
                + pad2(rem % 60) + "." + pad6(micros) + "Z")
    }

    /// Local time of day `HH:MM:SS` for the task table.
    public var timeOfDay: String {
        var t = time_t(microseconds / 1_000_000)
        var parts = tm()
        localtime_r(&t, &parts)
        return pad2(Int(parts.tm_hour)) + ":" + pad2(Int(parts.tm_min)) + ":" + pad2(Int(parts.tm_sec))
    }

    public var description: String { iso8601 }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

@inline(__always) private func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
private func pad6(_ v: Int) -> String {
    let s = String(v)
    return String(repeating: "0", count: max(0, 6 - s.count)) + s
}
private func format4(_ v: Int) -> String {
    let s = String(v)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}

/// The one clock PPKit reads: wall time for metadata, monotonic time for durations and deadlines.
public protocol PPClock: Sendable {
    /// Wall-clock now, for submitted/started/completed stamps.
    func now() -> Timestamp
    /// Monotonic nanoseconds, for deadlines and elapsed times.
    func monotonicNanoseconds() -> Int64
}

/// The system clock: the system layer's readings.
public struct SystemClock: PPClock {
    public init() {}
    @inline(__always) public func now() -> Timestamp { Timestamp(microseconds: SystemTime.wallMicroseconds()) }
    @inline(__always) public func monotonicNanoseconds() -> Int64 { SystemTime.monotonicNanoseconds() }
}
