// A streamed batch's reader waits for room (fewer tasks queued) blocked on a semaphore the scheduler's events ring,
// never polling: while 4096 tasks wait to start, the reader sleeps until one starts or ends.
import Dispatch
import Synchronization

/// The wait of one `ShellStream`'s reader: an observer on the scheduler rings `bell` at a started or completed event
/// while the reader waits (at most once per wait: `waiting` is taken by the ring).
final class StreamRoom: Sendable {
    let bell = DispatchSemaphore(value: 0)
    /// The reader is (about to be) blocked on `bell`.
    let waiting = Atomic<Bool>(false)
    /// Times the reader woke up (a test counts them: no busy wait).
    let wakeups = Atomic<Int>(0)
    /// The observer's token, once added (guarded by this Mutex; removed at `finish`).
    let token = Mutex<Int?>(nil)

    func ring() {
        if waiting.exchange(false, ordering: .acquiringAndReleasing) { bell.signal() }
    }
}

extension ShellStream {
    /// Waits until fewer than `limit` tasks of this batch are queued (made, not started); false when the batch is
    /// done meanwhile (stopped or halted: stop reading). Blocks on the scheduler's started/completed events, with a
    /// 1 s safety wake; never a busy wait.
    public func waitForRoom(below limit: Int) -> Bool {
        let room = self.room
        let scheduler = result.handle.scheduler
        room.token.withLock { t in
            if t == nil {
                t = scheduler.addObserver { [room] event in
                    switch event {
                    case .started, .completed: room.ring()
                    default: break
                    }
                }
            }
        }
        while true {
            room.waiting.store(true, ordering: .releasing)
            if queued < max(1, limit) {
                room.waiting.store(false, ordering: .releasing)
                return true
            }
            if result.ready() {
                room.waiting.store(false, ordering: .releasing)
                return false
            }
            _ = room.bell.wait(timeout: .now() + 1)
            room.wakeups.add(1, ordering: .relaxed)
        }
    }

    /// Times `waitForRoom` woke up so far (for tests: each is a started/completed event, or the 1 s safety wake).
    public var roomWakeups: Int { room.wakeups.load(ordering: .relaxed) }

    /// Stops listening to the scheduler (at `close`).
    func finishRoom() {
        let scheduler = result.handle.scheduler
        if let t = room.token.withLock({ t -> Int? in defer { t = nil }; return t }) { scheduler.removeObserver(t) }
        room.ring()  // a reader still waiting looks again
    }
}
