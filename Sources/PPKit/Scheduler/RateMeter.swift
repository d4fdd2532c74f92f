/// Sums per time bucket over a ring of the latest buckets: the one ring behind the completion rate and the engines'
/// activity.
struct BucketRing: Sendable {
    /// Microseconds per bucket.
    let width: Int64
    private var sums: [Int64]
    /// The bucket number each entry sums, or -1.
    private var epochs: [Int64]
    /// The bucket added to last, and its entry: the next add mostly goes there (no division).
    private var lastBucket: Int64 = -1
    private var lastEntry = 0

    init(width: Int64, count: Int) {
        self.width = width
        sums = [Int64](repeating: 0, count: count)
        epochs = [Int64](repeating: -1, count: count)
    }

    var count: Int { sums.count }
    @inline(__always) private func entry(_ b: Int64) -> Int { Int(((b % Int64(sums.count)) + Int64(sums.count)) % Int64(sums.count)) }

    /// Adds `v` to bucket `b` (a bucket number: microseconds / `width`).
    @inline(__always) mutating func add(_ v: Int64, bucket b: Int64) {
        if b != lastBucket {
            lastBucket = b
            lastEntry = entry(b)
            if epochs[lastEntry] != b {
                epochs[lastEntry] = b
                sums[lastEntry] = 0
            }
        }
        sums[lastEntry] += v
    }

    /// What bucket `b` holds; 0 once it has left the ring.
    func sum(_ b: Int64) -> Int64 { epochs[entry(b)] == b ? sums[entry(b)] : 0 }
}

/// Completions per second: the one home of the rate every view shows.
///
/// An instance counts completions in 250 ms buckets over the last 5 s (the recent rate); `average` is the rate of a
/// batch since it was submitted (what the dashboard's progress bars and the command line's progress line show).
public struct RateMeter: Sendable {
    static let bucketMicros: Int64 = 250_000
    private var ring = BucketRing(width: bucketMicros, count: 20)
    /// When counting began (wall-clock microseconds): the rate's span is never longer than the time since.
    let startedAt: Int64

    init(startedAt: Int64) { self.startedAt = startedAt }

    /// One completion at `micros`.
    @inline(__always) mutating func count(at micros: Int64) { ring.add(1, bucket: micros / Self.bucketMicros) }

    /// Completions per second over the last 5 s (or since counting began, at least 0.25 s).
    func rate(now micros: Int64) -> Double {
        let bucket = micros / ring.width
        let total = (0..<Int64(ring.count)).reduce(0) { $0 + ring.sum(bucket - $1) }
        let width = Double(ring.width) / 1e6
        return Double(total) / min(Double(ring.count) * width, max(width, Double(micros - startedAt) / 1e6))
    }

    /// `done` completions over `seconds`: their average rate (0 when no time has passed).
    public static func average(_ done: Int, seconds: Double) -> Double { seconds > 0 ? Double(done) / seconds : 0 }
}
