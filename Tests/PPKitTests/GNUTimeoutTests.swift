import PPKit
import Testing

@Suite("GNU parallel's --timeout: forms, median, limit")
struct GNUTimeoutTests {
    @Test("seconds, time units and percentages as GNU parallel reads them; anything else nil")
    func forms() {
        #expect(GNUTimeout("2.5") == .seconds(2.5))
        #expect(GNUTimeout("1m30s") == .seconds(90))
        #expect(GNUTimeout("2h") == .seconds(7200))
        #expect(GNUTimeout("1d1s") == .seconds(86401))
        #expect(GNUTimeout("1.5M") == .seconds(90))
        #expect(GNUTimeout("300%") == .percent(300))
        #expect(GNUTimeout("12.5%") == .percent(12.5))
        for bad in ["", "%", "-5%", "5.%", "x%", "m", "1x", "1.2.3s", "1ms2", "+3", "5%%", "1 m"] {
            #expect(GNUTimeout(bad) == nil, "\(bad)")
        }
    }

    @Test("the median: none before a value; the lower middle one; run times cut to milliseconds")
    func median() {
        var r = GNURemedian()
        #expect(r.median == nil && r.limit(percent: 200) == nil)
        r.add(0.2)
        #expect(r.median == 0.2 && abs((r.limit(percent: 300) ?? 0) - 0.6) < 1e-9)
        r.add(0.4)
        #expect(r.median == 0.2)  // two values: the lower one, as perl's (sort @a)[$#a/2]
        r.add(0.3)
        #expect(r.median == 0.3)
        r.add(0.1239)
        #expect(r.median == 0.2)
        var cut = GNURemedian()
        cut.add(1.2349)
        #expect(cut.median == 1.234)
    }

    @Test("GNU parallel sorts the run times as strings: 10.000 comes before 9.000")
    func stringOrder() {
        var r = GNURemedian()
        for t in [9.0, 10.0, 11.0] { r.add(t) }
        // As strings: "10.000" < "11.000" < "9.000": the middle is 11.
        #expect(r.median == 11)
    }

    @Test("past 999 values the remedian's second level takes over, still bounded")
    func manyValues() {
        var r = GNURemedian()
        for i in 0..<2500 { r.add(Double(i % 7) + 1) }
        let m = r.median ?? 0
        #expect(m >= 1 && m <= 7)
    }
}
