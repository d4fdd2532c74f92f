import Glibc
import Testing

@testable import PPSystem

@Suite("This process's peak memory (read after every shell task)")
struct PeakRSSTests {
    @Test("selfPeakRSS is VmHWM: between two readings of /proc/self/status, and it follows 64 MiB touched")
    func peakIsTheStatusFigure() throws {
        let before = try #require(ResourceUsage.statusPeakRSS())
        let peak = try #require(ResourceUsage.selfPeakRSS())
        let after = try #require(ResourceUsage.statusPeakRSS())
        // getrusage reads the kernel's per-CPU RSS counters without summing them exactly (/proc's VmHWM sums them):
        // while other tests' threads allocate, the two differ by up to a few hundred KiB (seen: 216 KiB, in a full
        // `swift test` on a fresh clone).
        let slack: Int64 = 4 << 20
        #expect(before - slack <= peak && peak <= after + slack, "\(before) <= \(peak) <= \(after), give or take \(slack)")
        // 64 MiB more than this process ever had, touched page by page: the peak follows, both ways of reading agree.
        let size = Int(after) + 64 << 20
        guard size <= 1 << 30 else { return }  // a test process this big: not worth the memory
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { block.deallocate() }
        for offset in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self) }
        let grown = try #require(ResourceUsage.selfPeakRSS())
        let status = try #require(ResourceUsage.statusPeakRSS())
        #expect(grown >= after + 32 << 20, "\(grown) after touching \(size) bytes (peak was \(after))")
        #expect(grown <= status + slack, "\(grown) <= \(status) + \(slack)")
    }

    @Test("VmHWM read from bytes: the figure in kB as bytes, nil without a line or a number")
    func statusLine() throws {
        func hwm(_ text: String) -> Int64? { ResourceUsage.vmHWM(inStatus: Array(text.utf8)) }
        #expect(hwm("Name:\tppdash\nVmPeak:\t  900 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n") == Int64(12_641_280))
        #expect(hwm("VmHWM: 7 kB") == Int64(7_168))  // the last line, no newline
        #expect(hwm("VmRSS:\t 1 kB\n") == nil)
        #expect(hwm("VmHWM:\t kB\n") == nil)
        #expect(hwm("VmHWM:\t 9999999999999999999 kB\n") == nil)  // no overflow trap
        #expect(hwm("XVmHWM:\t 5 kB\n") == nil)
        #expect(hwm("") == nil)
        let here = try #require(ResourceUsage.statusPeakRSS())
        #expect(here > 0 && here % 1024 == 0)
    }
}
