// The one clock: every monotonic and wall-clock reading in ppdash comes from here (clock_gettime through the vDSO,
// inlined into callers).
import Glibc

/// Readings of the system's clocks.
public enum SystemTime {
    /// CLOCK_MONOTONIC in nanoseconds: for durations and deadlines.
    @inlinable public static func monotonicNanoseconds() -> Int64 { read(CLOCK_MONOTONIC, per: 1) }
    /// CLOCK_MONOTONIC in seconds.
    @inlinable public static func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }
    /// CLOCK_REALTIME in microseconds since the Unix epoch: for stamps a person reads.
    @inlinable public static func wallMicroseconds() -> Int64 { read(CLOCK_REALTIME, per: 1000) }

    /// `clock` in units of `nanoseconds`.
    @inlinable @inline(__always) static func read(_ clock: clockid_t, per nanoseconds: Int64) -> Int64 {
        var t = timespec()
        clock_gettime(clock, &t)
        return Int64(t.tv_sec) * (1_000_000_000 / nanoseconds) + Int64(t.tv_nsec) / nanoseconds
    }
}
