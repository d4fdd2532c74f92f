// The fork server's rehearsal of a worker's start (EngineWorker.rehearseStart): it runs to the channel's close on the
// calling thread and leaves no descriptor behind. That it starts no thread is checked where it matters, in the
// fork server itself (WorkerStartE2ETests: a server with a second thread refuses, and the workers' parent would be
// ppdash instead of the server).
import Foundation
import Glibc
import PPSystem
import Testing

@testable import PPKit

@Suite("worker start rehearsal")
struct WorkerRehearsalTests {
    /// The descriptors this process has open.
    static func openDescriptors() -> Set<Int32> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(names.compactMap { Int32($0) })
    }

    @Test("runs to the channel's close, and closes what it opened")
    func rehearsal() {
        // Other suites open and close descriptors meanwhile: only what appears and stays is counted, over a few tries.
        var leaked = Set<Int32>()
        for _ in 0..<3 {
            let before = Self.openDescriptors()
            #expect(EngineWorker.rehearseStart())
            // Its loop's descriptors are closed by the loop's own thread as it ends, a moment after the return (the
            // fork server likewise waits up to 2 s for that thread to be gone): polled for as long.
            let deadline = SystemTime.monotonicSeconds() + 2
            leaked = Self.openDescriptors().subtracting(before)
            while !leaked.isEmpty && SystemTime.monotonicSeconds() < deadline {
                usleep(1000)
                leaked = Self.openDescriptors().subtracting(before)
            }
            if leaked.isEmpty { break }
        }
        #expect(leaked.isEmpty, "descriptors left open: \(leaked.sorted())")
    }
}
