// `--delay` spaces the starts by waiting on the scheduler's events, not by polling: counted as the context
// switches the whole ppdash process makes while tasks wait in its queue.
import Foundation
import Glibc
import PPSystem
import Testing

/// Voluntary context switches of every thread of `pid` now (threads that ended are not counted).
private func voluntarySwitches(_ pid: pid_t) -> Int {
    let dir = "/proc/\(pid)/task"
    var total = 0
    for tid in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
        let text = (try? String(contentsOfFile: "\(dir)/\(tid)/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
            total += Int(line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") ?? 0
        }
    }
    return total
}

@Suite("--delay waits without polling", .endToEndSlot)
struct DelayWaitE2ETests {
    @Test("--delay with tasks waiting in the queue: ppdash sleeps until a task starts (a 1 ms poll would switch ~1,000 times a second)")
    func delayDoesNotPoll() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        // One engine, five tasks of 0.4 s: the feeder waits about 1.6 s in all for its task to leave the queue.
        let child = try #require(
            PPDash.start(
                ["run", "-j", "1", "--delay", "0.01", "--no-journal", "--", "sleep 0.4; echo {} >> \(shellQuote(dir.file("f")))",
                 ":::", "1", "2", "3", "4", "5"], timeout: 60))
        // Sampled on a thread of its own: the test pool's 2 threads may be busy with other suites for seconds.
        let pid = child.pid
        let (most, samples) = await withCheckedContinuation { (done: CheckedContinuation<(Int, Int), Never>) in
            Thread.detachNewThread {
                var most = 0
                var samples = 0
                while SystemFacts.processExists(pid) && !SystemFacts.isZombie(pid) {
                    most = max(most, voluntarySwitches(pid))
                    samples += 1
                    usleep(50_000)
                }
                done.resume(returning: (most, samples))
            }
        }
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect(((try? String(contentsOfFile: dir.file("f"), encoding: .utf8)) ?? "").split(separator: "\n").count == 5)
        #expect(samples >= 5, "sampled while it ran")
        // Measured with the wait: 43-51 in all (2.2-2.5 s, load ~20). The poll it replaced woke every millisecond
        // for as long as a task waited: 400 or more here even when each sleep overshoots fourfold.
        #expect(most < 250, "\(most) voluntary context switches")
    }
}
