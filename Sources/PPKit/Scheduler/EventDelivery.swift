import Dispatch
import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The thread that hands the scheduler's events to its observers, so no observer (a journal's `write(2)`, stdout's
/// `write(2)`) ever runs on an engine's thread or an event loop: a paused `ppdash run ... | less` must not stall the
/// engines' heartbeats.
///
/// Events are queued in the scheduler's state (in order, under its lock); this thread takes them in rounds, calls
/// every observer with each, then runs the wake-ups queued with them, so a waiter never learns its batch is done
/// before the batch's events are delivered.
final class EventDelivery: Sendable {
    /// Rung by a producer that finds the delivery thread asleep.
    private let bell = DispatchSemaphore(value: 0)
    /// True while the delivery thread is (about to be) parked on `bell`.
    private let sleeping = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Set when the queue passes `backlog`; cleared by the delivery thread once it has taken the queue.
    let backlogged = Atomic<Bool>(false)
    /// `pthread_self()` of the delivery thread (0 until it runs).
    private let threadID = Atomic<UInt>(0)
    private let started = Atomic<Bool>(false)

    /// Undelivered events past which a thread that may block (not an event loop, not the delivery thread) waits
    /// until delivery catches up: the queue stays bounded while observers keep up, engines never stall on it.
    static let backlog = 4096

    /// Whether the caller is the delivery thread (an observer calling back into the scheduler).
    var isCurrentThread: Bool { threadID.load(ordering: .acquiring) == UInt(pthread_self()) }

    /// Wakes the delivery thread if it sleeps; cheap when it is already awake.
    @inline(__always)
    func ring() {
        // Pairs with the fence in `park`: either the producer sees `sleeping` or the delivery thread sees the queue.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .relaxed), sleeping.exchange(false, ordering: .acquiringAndReleasing) {
            bell.signal()
        }
    }

    /// Starts the thread (once; later calls do nothing); `round` delivers one round and returns false when nothing was queued, or nil once its
    /// scheduler is gone.
    func start(round: @escaping @Sendable () -> Bool?, pending: @escaping @Sendable () -> Bool?) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            threadID.store(UInt(pthread_self()), ordering: .releasing)
            while !stopped.load(ordering: .acquiring) {
                guard let worked = round() else { return }
                if worked { continue }
                park(pending: pending)
            }
        }
        thread.name = "ppdash-events"
        thread.start()
    }

    /// Sleeps until a producer rings, unless something was queued meanwhile.
    private func park(pending: () -> Bool?) {
        sleeping.store(true, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if pending() != false {
            // Queued meanwhile (or the scheduler is gone): take back the flag, or consume the ring a producer sends.
            if sleeping.exchange(false, ordering: .acquiringAndReleasing) { return }
        }
        bell.wait()
    }

    /// Ends the thread (the scheduler is gone).
    func stop() {
        stopped.store(true, ordering: .releasing)
        bell.signal()
    }
}

extension Scheduler {
    /// Starts the delivery thread once, when the first observer is added.
    func startDelivery() {
        delivery.start(
            round: { [weak self] in self?.deliverRound() },
            pending: { [weak self] in self?.state.withLock { !$0.outbox.isEmpty || !$0.outboxWakes.isEmpty } })
    }

    /// Called after queueing events (and maybe wake-ups): rings the delivery thread, and makes a thread that may block
    /// wait while the queue is past its bound.
    @inline(__always)
    func eventsQueued() {
        guard observerCount.load(ordering: .relaxed) > 0 else { return }
        delivery.ring()
        if delivery.backlogged.load(ordering: .relaxed) { waitOutBacklog() }
    }

    private func waitOutBacklog() {
        // Event loops carry heartbeats, and the delivery thread is the one that drains: neither may wait.
        if delivery.isCurrentThread || MultiThreadedEventLoopGroup.currentEventLoop != nil { return }
        let enqueued = state.withLock { $0.enqueued }
        let slack = UInt64(EventDelivery.backlog / 2)
        if enqueued > slack { waitForDelivery(upTo: enqueued - slack) }
    }

    /// Returns once the events queued up to `target` have reached every observer.
    func waitForDelivery(upTo target: UInt64) {
        let bell = state.withLock { s -> DispatchSemaphore? in
            guard s.delivered < target else { return nil }
            let bell = DispatchSemaphore(value: 0)
            s.deliveryWaiters.append((target, bell))
            return bell
        }
        guard let bell else { return }
        delivery.ring()
        bell.wait()
    }

    /// Runs `wake` once every event queued so far has reached the observers: on the delivery thread after them, or
    /// at once when there are no observers (or the caller is the delivery thread).
    func afterDelivery(_ wake: @escaping @Sendable () -> Void) {
        guard observerCount.load(ordering: .relaxed) > 0, !delivery.isCurrentThread else { return wake() }
        state.withLock { $0.outboxWakes.append(wake) }
        delivery.ring()
    }

    /// Calls `observer` with the events of each delivery round at once (in order, never empty), on the delivery
    /// thread, in its place among the observers: one call per round lets it do per round what it would do per event
    /// (a journal: one look-up under the scheduler's lock, one write). Otherwise as `addObserver`.
    @discardableResult
    public func addRoundObserver(_ observer: @escaping @Sendable ([SchedulerEvent]) -> Void) -> Int {
        observerCount.add(1, ordering: .relaxed)
        let token = state.withLock { s in
            s.observerCounter += 1
            s.observers.append(Observer(token: s.observerCounter, call: { _ in }, round: observer))
            return s.observerCounter
        }
        startDelivery()
        return token
    }

    /// One round on the delivery thread: the queued events to each observer in turn (the first added sees the
    /// round's events before the next sees any: a journal added first has written them before a printer prints),
    /// then the queued wake-ups. Returns whether anything was queued.
    func deliverRound() -> Bool {
        let (events, wakes, observers, upTo) = state.withLock {
            s -> ([SchedulerEvent], [@Sendable () -> Void], [Observer], UInt64) in
            let e = s.outbox
            let w = s.outboxWakes
            s.outbox.removeAll(keepingCapacity: true)
            s.outboxWakes.removeAll(keepingCapacity: true)
            // Cleared with the queue taken, under the lock: a producer refilling it sets the flag again.
            delivery.backlogged.store(false, ordering: .relaxed)
            return (e, w, s.observers, s.enqueued)
        }
        if !events.isEmpty {
            for o in observers {
                if let round = o.round { round(events) } else { for e in events { o.call(e) } }
            }
        }
        for w in wakes { w() }
        let ready = state.withLock { s -> [DispatchSemaphore] in
            s.delivered = upTo
            guard !s.deliveryWaiters.isEmpty else { return [] }
            var ready = [DispatchSemaphore]()
            s.deliveryWaiters.removeAll { w in
                guard w.upTo <= upTo else { return false }
                ready.append(w.bell)
                return true
            }
            return ready
        }
        for b in ready { b.signal() }
        return !events.isEmpty || !wakes.isEmpty
    }
}
