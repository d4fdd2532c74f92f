import PPSystem
import Dispatch
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// What AsyncResult reads of one batch, taken in one lock.
struct BatchView: Sendable {
    var counts: StatusCounts
    /// Tasks it has or will have, as known (a stream: read so far).
    var count: Int
    /// Tasks made so far (ids `first..<first+made`).
    var made: Int
    /// A stream still being read.
    var open: Bool
    var first: Int
    var submitted: Int64
    var lastReceived: Int64
    var serialMicros: Int64
    var label: String
}

extension Scheduler {
    func batchView(_ batch: BatchID) -> BatchView {
        state.withLock { s in
            let b = s.tasks[BatchSlot(batch)]
            return BatchView(
                counts: b.counts, count: b.planned, made: b.count, open: b.open, first: b.first, submitted: b.submitted, lastReceived: b.lastReceived,
                serialMicros: b.serialMicros, label: b.options.label)
        }
    }

    /// Aborts the batch's tasks that have not started (`--halt soon`): they never run; running ones go on.
    /// Returns how many were aborted.
    @discardableResult
    public func abortPending(batch: BatchID) -> Int {
        let now = clock.now()
        return update { s, fx in
            guard s.tasks.contains(BatchSlot(batch)) else { return 0 }
            var n = 0
            for slot in s.tasks[BatchSlot(batch)].slots where s.tasks[slot].status == .pending {
                s.abortTask(slot, fx: &fx, now: now)
                n += 1
            }
            return n + s.settleUnmade(BatchSlot(batch), status: .aborted, fx: &fx)
        }
    }

    /// Results and failures of the batch, in submission order; nil if it is not done (a retry may have reopened it).
    func batchOutcome(_ batch: BatchID) -> (values: [(any Sendable)?], failures: [TaskFailure])? {
        state.withLock { s in
            let b = s.tasks[BatchSlot(batch)]
            guard b.isDone else { return nil }
            var values = [(any Sendable)?]()
            values.reserveCapacity(b.count)
            var failures = [TaskFailure]()
            for slot in b.slots {
                values.append(s.tasks.results[slot.index])
                if s.tasks[slot].status.isFailure { failures.append(s.failure(slot)) }
            }
            return (values, failures)
        }
    }

    /// The result (or failure) of one finished task.
    func taskOutcome(_ idx: Int) -> Result<(any Sendable)?, TaskFailure>? {
        let slot = TaskSlot(idx)
        return state.withLock { s in
            let status = s.tasks[slot].status
            guard status.isFinished else { return nil }
            return status == .ok ? .success(s.tasks.results[slot.index]) : .failure(s.failure(slot))
        }
    }

    /// Blocks until the batch is done or `timeout` seconds pass (nil or negative: forever). True if done.
    func waitBlocking(_ batch: BatchID, timeout: Double?) -> Bool {
        let wakeup = Wakeup()
        let token: Int? = state.withLock { s in
            if s.tasks[BatchSlot(batch)].isDone { return nil }
            s.waiterCounter += 1
            s.tasks[BatchSlot(batch)].doneWaiters.append((s.waiterCounter, { wakeup.signal() }))
            return s.waiterCounter
        }
        guard let token else {
            flushEvents()  // done already: its events may still be on their way to the observers
            return true
        }
        // Short batches end within microseconds: watch the flag (no system call) for up to 100 us before parking.
        // Waking a parked thread costs 15-20 us here (an idle vCPU halts and needs an interrupt); a zero-timeout
        // semaphore wait is a futex call that can switch out too.
        let spinUntil = SystemTime.monotonicNanoseconds() + 100_000
        repeat {
            if wakeup.fired { return true }
            sched_yield()
        } while SystemTime.monotonicNanoseconds() < spinUntil
        let result: DispatchTimeoutResult
        if let timeout, timeout >= 0 {
            result = wakeup.semaphore.wait(timeout: .now() + .nanoseconds(Int(min(timeout, 1e9) * 1e9)))
        } else {
            wakeup.semaphore.wait()
            result = .success
        }
        if result == .timedOut {
            let done = state.withLock { s in
                s.tasks[BatchSlot(batch)].doneWaiters.removeAll { $0.token == token }
                return s.tasks[BatchSlot(batch)].isDone
            }
            if done { flushEvents() }
            return done
        }
        return true
    }

    /// Suspends until the batch is done or `timeout` seconds pass (nil or negative: forever). True if done.
    func waitAsync(_ batch: BatchID, timeout: Double?) async -> Bool {
        guard let timeout, timeout >= 0 else { return await waitUntilDone(batch) }
        let sched = self
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await sched.waitUntilDone(batch) }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(min(timeout, 1e9) * 1e9))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if first { return true }
            guard sched.state.withLock({ $0.tasks[BatchSlot(batch)].isDone }) else { return false }
            // Done as the timer fired: resume once its events have reached the observers.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in sched.afterDelivery { c.resume() } }
            return true
        }
    }

    /// Suspends until the batch is done; returns false at once if the calling task is cancelled.
    private func waitUntilDone(_ batch: BatchID) async -> Bool {
        enum Slot { case idle, waiting(CheckedContinuation<Bool, Never>), cancelled }
        let slot = Mutex<Slot>(.idle)
        let token: Int = state.withLock { s in
            s.waiterCounter += 1
            return s.waiterCounter
        }
        /// Resumes the waiter once, whoever comes first (the batch, or cancellation).
        @Sendable func resume(_ done: Bool) {
            let c: CheckedContinuation<Bool, Never>? = slot.withLock { st in
                defer { st = .cancelled }
                if case .waiting(let c) = st { return c }
                return nil
            }
            c?.resume(returning: done)
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Bool, Never>) in
                let proceed: Bool = slot.withLock { st in
                    if case .cancelled = st { return false }
                    st = .waiting(cont)
                    return true
                }
                guard proceed else { return cont.resume(returning: false) }
                let done: Bool = state.withLock { s in
                    if s.tasks[BatchSlot(batch)].isDone { return true }
                    s.tasks[BatchSlot(batch)].doneWaiters.append((token, { resume(true) }))
                    return false
                }
                if done { afterDelivery { resume(true) } }
            }
        } onCancel: {
            state.withLock { s in s.tasks[BatchSlot(batch)].doneWaiters.removeAll { $0.token == token } }
            resume(false)
        }
    }

    /// A stream of task indices of the batch in completion order: those done so far, then each as it finishes.
    func completionStream(_ batch: BatchID) -> AsyncStream<Int> {
        AsyncStream { cont in
            state.withLock { s in
                s.waiterCounter += 1
                let token = s.waiterCounter
                for idx in s.tasks[BatchSlot(batch)].completionOrder { cont.yield(Int(idx)) }
                if s.tasks[BatchSlot(batch)].isDone {
                    cont.finish()
                } else {
                    s.tasks[BatchSlot(batch)].streams[token] = cont
                }
            }
        }
    }

    func metadataRange(_ range: Range<Int>) -> [TaskMetadata] {
        state.withLock { s in range.compactMap { s.metadata(TaskSlot($0)) } }
    }
}

/// A one-shot wake-up a waiter can watch without a system call (the flag) or park on (the semaphore).
final class Wakeup: Sendable {
    private let flag = Atomic<Bool>(false)
    let semaphore = DispatchSemaphore(value: 0)

    /// Sets the flag, then signals the semaphore (a semaphore nobody waits on costs no system call).
    func signal() {
        flag.store(true, ordering: .releasing)
        semaphore.signal()
    }

    var fired: Bool { flag.load(ordering: .acquiring) }
}
