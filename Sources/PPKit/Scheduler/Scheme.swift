/// How the load-balanced view picks an engine, as ipyparallel's task scheduler defines its schemes.
public enum Scheme: String, Sendable, Hashable, Codable, CaseIterable {
    /// The least loaded engine; ties go to the least recently used (ipyparallel's default).
    case leastLoad = "leastload"
    /// The least recently used engine, whatever its load.
    case lru
    /// Uniformly at random.
    case random = "plainrandom"
    /// Two random picks weighted by 1/load; the less loaded wins.
    case weighted
    /// Two uniform random picks; the least recently used wins.
    case twoBin = "twobin"

    /// Parses a scheme name as ipyparallel spells it (also `leastload`, `least-load`, `random`, `two-bin`).
    public init?(name: String) {
        switch name.lowercased() {
        case "leastload", "least-load", "least_load": self = .leastLoad
        case "lru": self = .lru
        case "random", "plainrandom": self = .random
        case "weighted": self = .weighted
        case "twobin", "two-bin", "two_bin": self = .twoBin
        default: return nil
        }
    }

    /// Picks an index into `loads`, which lists the candidate engines' loads in LRU order (least recently used first).
    public func choose(loads: [Int], using rng: inout some RandomNumberGenerator) -> Int {
        precondition(!loads.isEmpty, "no candidate engines")
        let n = loads.count
        switch self {
        case .leastLoad:
            var best = 0
            for i in 1..<n where loads[i] < loads[best] { best = i }
            return best
        case .lru:
            return 0
        case .random:
            return Int.random(in: 0..<n, using: &rng)
        case .twoBin:
            let a = Int.random(in: 0..<n, using: &rng)
            let b = Int.random(in: 0..<n, using: &rng)
            return min(a, b)
        case .weighted:
            let weights = loads.map { 1.0 / (1e-6 + Double($0)) }
            var sums = [Double]()
            sums.reserveCapacity(n)
            var acc = 0.0
            for w in weights {
                acc += w
                sums.append(acc)
            }
            let x = Double.random(in: 0..<1, using: &rng) * acc
            let y = Double.random(in: 0..<1, using: &rng) * acc
            var idx = 0
            var idy = 0
            while idx < n - 1 && sums[idx] < x { idx += 1 }
            while idy < n - 1 && sums[idy] < y { idy += 1 }
            return weights[idy] > weights[idx] ? idy : idx
        }
    }
}

/// A small, fast, seedable generator (SplitMix64) so scheme choices are reproducible in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
