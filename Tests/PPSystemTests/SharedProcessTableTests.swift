import Dispatch
import Foundation
import Synchronization
import Testing

@testable import PPSystem

/// When hundreds of proc workers end together, each engine's settle looks for what its worker left running in the
/// process table. One pass over /proc is shared by the callers that ask together, and none gets a table read
/// before it asked.
@Suite("Shared process table")
struct SharedProcessTableTests {
    final class Count: Sendable {
        let value = Mutex(0)
        func next() -> Int { value.withLock { $0 += 1; return $0 } }
        var now: Int { value.withLock { $0 } }
    }

    @Test("64 threads asking at once share a few passes, each gets a pass begun after it asked")
    func callersShareFreshPasses() {
        let begun = Count()
        // Each pass takes 20 ms and says which pass it was (as the pid of its one row).
        let table = SharedProcessTable(scan: {
            let n = begun.next()
            usleep(20_000)
            return [ProcessStat(pid: Int32(n), text: "\(n) (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0")!]
        })
        let stale = Count()
        let all = DispatchGroup()
        for _ in 0..<64 {
            all.enter()
            // A thread each: read() blocks.
            Thread.detachNewThread {
                let before = begun.now
                if Int(table.read()[0].pid) <= before { _ = stale.next() }
                all.leave()
            }
        }
        #expect(all.wait(timeout: .now() + 30) == .success, "the readers did not finish")
        #expect(stale.now == 0, "a caller got a pass begun before it asked")
        #expect(table.passes >= 1 && table.passes <= 8, "\(table.passes) passes for 64 callers")
        // Asked again later: a new pass.
        let n = table.passes
        _ = table.read()
        #expect(table.passes == n + 1)
    }
}
