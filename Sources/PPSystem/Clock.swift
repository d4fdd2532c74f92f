// The one clock: every monotonic and wall-clock reading in ppdash comes from here (clock_gettime through the vDSO).
import CPPSys

/// Readings of the system's clocks.
public enum SystemTime {
    /// CLOCK_MONOTONIC in nanoseconds: for durations and deadlines.
    @inlinable public static func monotonicNanoseconds() -> Int64 { ppsys_monotonic_ns() }
    /// CLOCK_MONOTONIC in seconds.
    @inlinable public static func monotonicSeconds() -> Double { Double(ppsys_monotonic_ns()) / 1e9 }
    /// CLOCK_REALTIME in microseconds since the Unix epoch: for stamps a person reads.
    @inlinable public static func wallMicroseconds() -> Int64 { ppsys_realtime_us() }
}
