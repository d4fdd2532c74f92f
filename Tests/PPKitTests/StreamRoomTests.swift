import Foundation
import Synchronization
import Testing

@testable import PPKit

@Suite("A streamed batch's reader waits for room blocked, not polling")
struct StreamRoomTests {
    @Test("while tasks wait, the reader sleeps: it wakes only for started/completed events (counted)")
    func readerBlocksUntilTasksStart() throws {
        let dir = NSTemporaryDirectory() + "ppdash-room-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = makeClient(2)
        defer { client.shutdown() }
        // Each task ticks until the test creates GO (its ticks measure time passing, no sleep in the test).
        let stream = try client.loadBalancedView().openStream(
            template: try Template("while [ ! -e \(dir)/GO ]; do echo t >> \(dir)/TICKS; sleep 0.02; done; echo {}"))
        #expect(stream.append((1...12).map { [String($0)] }))
        let returned = Atomic<Int>(0)  // 0 waiting, 1 room, 2 done
        let waiter = Thread {
            returned.store(stream.waitForRoom(below: 4) ? 1 : 2, ordering: .releasing)
        }
        waiter.start()
        #expect(eventually(30) { client.scheduler.totals.running == 2 && stream.room.waiting.load(ordering: .acquiring) })
        let atBlock = stream.roomWakeups
        // Time passes (the running tasks tick 15 times, >= 0.3 s): a 2 ms poll would wake ~150 times.
        #expect(eventually(30) { ((try? String(contentsOfFile: dir + "/TICKS", encoding: .utf8)) ?? "").count >= 30 })
        #expect(returned.load(ordering: .acquiring) == 0, "10 tasks queued: no room below 4")
        let blocked = stream.roomWakeups - atBlock
        #expect(blocked <= 2, "woke \(blocked) times while nothing started (a safety wake per second at most)")
        _ = FileManager.default.createFile(atPath: dir + "/GO", contents: nil)
        #expect(eventually(30) { returned.load(ordering: .acquiring) == 1 })
        #expect(stream.queued < 4)
        // Each wake-up was an event of a task (12 tasks: 24 events at most) or a 1 s safety wake.
        #expect(stream.roomWakeups <= 24 + 5)
        stream.close()
        #expect(stream.result.wait(timeout: 30))
        #expect(stream.result.counts.ok == 12)
    }

    @Test("a stopped batch ends the wait: false, stop reading")
    func stoppedBatchEndsTheWait() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let stream = try client.loadBalancedView().openStream(template: try Template("sleep 30; echo {}"))
        #expect(stream.append((1...5).map { [String($0)] }))
        let returned = Atomic<Int>(0)
        let waiter = Thread { returned.store(stream.waitForRoom(below: 2) ? 1 : 2, ordering: .releasing) }
        waiter.start()
        #expect(eventually(30) { stream.room.waiting.load(ordering: .acquiring) })
        stream.close(inputEnded: false)
        client.scheduler.abort(batch: stream.result.handle.batch)
        #expect(eventually(30) { returned.load(ordering: .acquiring) != 0 })
        // Aborted: every task left the queue (room) or the batch is done (false): either way the reader is not stuck.
        #expect(stream.result.wait(timeout: 30))
    }
}
