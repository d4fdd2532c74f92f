import Synchronization

/// How many of our heartbeat ticks in a row passed with nothing heard from the peer (either side of a link).
///
/// Counted in our own ticks, not in wall time: a process starved of CPU (256 workers starting on 2 cores) runs its
/// ticks late, and a late tick is one tick, so the time in which we could not have read the peer's frames is not
/// held against it. Frames are read before timers run on an event loop, so a frame that waited is heard first.
final class HeartbeatSilence: Sendable {
    private let heardSinceTick = Atomic<Bool>(true)
    private let missed = Atomic<Int>(0)

    init() {}

    /// A frame came from the peer.
    func heard() { heardSinceTick.store(true, ordering: .relaxed) }

    /// One tick of ours (on one thread: the link's event loop); the ticks in a row so far with nothing heard.
    func tick() -> Int {
        if heardSinceTick.exchange(false, ordering: .relaxed) {
            missed.store(0, ordering: .relaxed)
            return 0
        }
        return missed.add(1, ordering: .relaxed).newValue
    }
}
