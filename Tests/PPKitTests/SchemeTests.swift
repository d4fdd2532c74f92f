import Testing
@testable import PPKit

@Suite("Schemes choose as ipyparallel's do")
struct SchemeTests {
    @Test("least-load picks the least loaded, ties to the least recently used")
    func leastLoad() {
        var rng = SplitMix64(seed: 1)
        #expect(Scheme.leastLoad.choose(loads: [2, 1, 1, 3], using: &rng) == 1)
        #expect(Scheme.leastLoad.choose(loads: [0, 0], using: &rng) == 0)
    }

    @Test("lru takes the front whatever its load")
    func lru() {
        var rng = SplitMix64(seed: 1)
        #expect(Scheme.lru.choose(loads: [9, 0, 0], using: &rng) == 0)
    }

    @Test("random covers every engine uniformly")
    func random() {
        var rng = SplitMix64(seed: 7)
        var hits = [0, 0, 0, 0]
        for _ in 0..<4000 { hits[Scheme.random.choose(loads: [0, 5, 9, 1], using: &rng)] += 1 }
        for h in hits { #expect(h > 800 && h < 1200) }
    }

    @Test("two-bin favours the least recently used: P(i) decreasing with i")
    func twoBin() {
        var rng = SplitMix64(seed: 3)
        var hits = [0, 0, 0]
        for _ in 0..<9000 { hits[Scheme.twoBin.choose(loads: [5, 5, 5], using: &rng)] += 1 }
        // min of two uniform picks over 3: P = 5/9, 3/9, 1/9.
        #expect(hits[0] > 4500 && hits[0] < 5500)
        #expect(hits[2] > 700 && hits[2] < 1300)
    }

    @Test("weighted favours lightly loaded engines")
    func weighted() {
        var rng = SplitMix64(seed: 5)
        var hits = [0, 0]
        for _ in 0..<2000 { hits[Scheme.weighted.choose(loads: [1, 10], using: &rng)] += 1 }
        #expect(hits[0] > 1800)
        #expect(Scheme.weighted.choose(loads: [0, 3], using: &rng) == 0)
    }

    @Test("names parse as ipyparallel spells them")
    func names() {
        #expect(Scheme(name: "leastload") == .leastLoad)
        #expect(Scheme(name: "twobin") == .twoBin)
        #expect(Scheme(name: "plainrandom") == .random)
        #expect(Scheme(name: "nope") == nil)
    }

    @Test("the scheduler spreads by least load across engines")
    func scheduled() throws {
        for scheme in Scheme.allCases {
            let client = makeClient(3, scheme: scheme)
            defer { client.shutdown() }
            let ar = try client.loadBalancedView().mapAsync({ (x: Int) -> Int in
                blockingSleep(0.01)
                return x
            }, 0..<12)
            #expect(try ar.get(timeout: 30).count == 12)
            if scheme == .leastLoad || scheme == .lru {
                // Both rotate over idle engines: every engine takes part.
                #expect(Set(ar.metadata.compactMap(\.engine)).count == 3, "\(scheme)")
            }
        }
    }
}
