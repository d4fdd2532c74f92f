import Foundation
import PPKit
import Testing

@testable import PPIPP

/// `ppdash ipp --follow` prints a completion as soon as the poll thread applied it: the shared box announces each
/// change once, and the follower waits on that instead of a fixed tick.
@Suite("Follow wakes on changes")
struct FollowWakeTests {
    static func box() throws -> SharedBox {
        let file = """
            {"interface": "tcp://127.0.0.1", "registration": 1, "task": 2, "mux": 3, "control": 4, "iopub": 5,
             "notification": 6, "key": "k", "signature_scheme": "hmac-sha256"}
            """
        let info = try ConnectionInfo.parse(Array(file.utf8), path: "/nonexistent/ipcontroller-client.json")
        var mirror = IPPMirror(now: MirrorTests.t0)
        mirror.trackChanges = true
        return SharedBox(SharedState(info: info, mirror: mirror, session: JupyterSession(key: "k")))
    }

    @Test("a change wakes the follower once; drained, nothing is pending; a wake left from drained changes is no change")
    func wakesOnce() throws {
        let box = try Self.box()
        // Nothing changed: nothing announced, the wait times out.
        box.announceChanges()
        #expect(!box.waitForChanges(timeout: 0))

        // An IOPub completion (busy, idle) changes a row: one announcement, however many turns announce it.
        var s = JupyterSession(key: "k")
        let busy = MirrorTests.io(&s, "busy", parent: "t1", submitted: 0.1, at: 1)
        let idle = MirrorTests.io(&s, "idle", parent: "t1", submitted: 0.1, at: 1.2)
        box.state.withLock {
            $0.mirror.apply(io: busy.event, msgId: busy.msgId, origin: busy.origin, now: MirrorTests.t0)
            $0.mirror.apply(io: idle.event, msgId: idle.msgId, origin: idle.origin, now: MirrorTests.t0)
        }
        box.announceChanges()
        box.announceChanges()
        #expect(box.waitForChanges(timeout: 0))
        let (rows, status) = box.withChanges { m, rows, _ in (rows, rows.map { m.row(at: $0).status }) }
        #expect(rows == [0] && status == [.ok])

        // Drained: the second announcement signalled nothing, and nothing is pending.
        #expect(!box.waitForChanges(timeout: 0))
        #expect(box.withChanges { _, rows, engines in rows.count + engines.count } == 0)

        // Announced, then drained before the follower waited: the leftover wake is not taken for a change.
        box.state.withLock { $0.mirror.engineRegistered(id: 3, uuid: "u3", now: MirrorTests.t0) }
        box.announceChanges()
        #expect(box.withChanges { _, _, engines in engines } == [3])
        #expect(!box.waitForChanges(timeout: 0))
    }

    @Test("a follower waiting on another thread is woken by the announcement, not by its timeout")
    func wakesWaiter() async throws {
        let box = try Self.box()
        // The waiter (its own thread, not the test pool's) has a minute: returning true shows a change woke it.
        let woke = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            Thread { c.resume(returning: box.waitForChanges(timeout: 60)) }.start()
            box.state.withLock { $0.mirror.engineRegistered(id: 0, uuid: "u0", now: MirrorTests.t0) }
            box.announceChanges()
        }
        #expect(woke)
    }

    @Test("without change tracking (the dashboard) nothing is announced")
    func untracked() throws {
        let box = try Self.box()
        box.state.withLock {
            $0.mirror.trackChanges = false
            $0.mirror.engineRegistered(id: 0, uuid: "u0", now: MirrorTests.t0)
        }
        box.announceChanges()
        #expect(!box.waitForChanges(timeout: 0))
    }
}
