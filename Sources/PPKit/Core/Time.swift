import Glibc
import PPJSON
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

    /// ISO 8601 in UTC with microseconds: `2026-11-29T10:12:20.123456Z` (written by the JSON layer).
    public var iso8601: String { ISO8601.string(microseconds: microseconds) }

    /// Parses ISO 8601 text (`ISO8601.parse`: what `iso8601` writes, and Python's `isoformat` forms).
    public init?(iso8601 s: String) {
        guard let us = ISO8601.parse(s) else { return nil }
        self.init(microseconds: us)
    }

    /// Local time of day `HH:MM:SS` for the task table.
    public var timeOfDay: String {
        var t = time_t(microseconds / 1_000_000)
        var parts = tm()
        localtime_r(&t, &parts)
        return pad2(Int(parts.tm_hour)) + ":" + pad2(Int(parts.tm_min)) + ":" + pad2(Int(parts.tm_sec))
    }

    public var description: String { iso8601 }
}

@inline(__always) private func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

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
