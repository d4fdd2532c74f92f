/// Completions per second: the one home of the rate every view shows.
///
/// An instance counts completions in 250 ms buckets over a 5 s ring (the recent rate); `average` is the rate of a
/// batch since it was submitted (what the dashboard's progress bars and the command line's progress line show).
public struct RateMeter: Sendable {
    static let bucketMicros: Int64 = 250_000
    static let ringSize = 20
    private var counts = [Int](repeating: 0, count: ringSize)
    /// The bucket number each ring entry counts, or -1.
    private var epochs = [Int64](repeating: -1, count: ringSize)
    /// When counting began (wall-clock microseconds): the rate's span is never longer than the time since.
    let startedAt: Int64

    init(startedAt: Int64) { self.startedAt = startedAt }

    /// One completion at `micros`.
    @inline(__always) mutating func count(at micros: Int64) {
        let bucket = micros / Self.bucketMicros
        let i = Int(bucket % Int64(Self.ringSize))
        if epochs[i] != bucket {
            epochs[i] = bucket
            counts[i] = 0
        }
        counts[i] += 1
    }

    /// Completions per second over the last 5 s (or since counting began, at least 0.25 s).
    func rate(now micros: Int64) -> Double {
        let bucket = micros / Self.bucketMicros
        let n = Int64(Self.ringSize)
        var total = 0
        for k in 0..<n {
            let b = bucket - k
            let i = Int(((b % n) + n) % n)
            if epochs[i] == b { total += counts[i] }
        }
        let ring = Double(Self.ringSize) * Double(Self.bucketMicros) / 1e6
        let span = min(ring, max(Double(Self.bucketMicros) / 1e6, Double(micros - startedAt) / 1e6))
        return Double(total) / span
    }

    /// `done` completions over `seconds`: their average rate (0 when no time has passed).
    public static func average(_ done: Int, seconds: Double) -> Double {
        seconds > 0 ? Double(done) / seconds : 0
    }
}
