import Testing
@testable import PPKit

@Suite("the scheduler's parts: typed slots, task records, dependency verdicts, ready queues, rate meter")
struct SchedulerPartsTests {
    @Test("a task's slot and its id are one apart in both directions; a batch's likewise")
    func slots() {
        #expect(TaskSlot(TaskID(1)).index == 0)
        #expect(TaskSlot(0).id == TaskID(1))
        for i in [0, 1, 41, 1_000_000] { #expect(TaskSlot(TaskSlot(i).id).index == i) }
        #expect(TaskSlot(3) < TaskSlot(4))
        #expect(BatchSlot(1).index == 0)
        #expect(BatchSlot(index: 0).id == 1)
        for id in [1, 2, 99] { #expect(BatchSlot(index: BatchSlot(id).index).id == id) }

        var store = TaskStore()
        #expect(store.nextBatch.id == 1)
        store.appendBatch(
            BatchState(
                id: 1, first: 0, count: 2, planned: 2,
                options: BatchOptions(label: "b", retries: 0, maxOutput: 0, environment: [:]), submitted: 5))
        store.append(TaskRecord(batch: BatchSlot(1), seq: 1, submitted: 5), work: .builtin(.noop))
        store.append(TaskRecord(batch: BatchSlot(1), seq: 2, submitted: 5), work: .builtin(.noop))
        #expect(store.contains(TaskSlot(TaskID(2))) && !store.contains(TaskSlot(TaskID(3))) && !store.contains(TaskSlot(TaskID(0))))
        #expect(store[batchOf: TaskSlot(1)].id == 1)
        #expect(Array(store[BatchSlot(1)].slots) == [TaskSlot(0), TaskSlot(1)])
        #expect(store.nextSlot == TaskSlot(2) && store.nextBatch.id == 2)
    }

    @Test("a record's unset engine, times and process group read as nil and set back to nil")
    func recordOptionals() {
        var r = TaskRecord(batch: BatchSlot(3), seq: 7, submitted: 10)
        #expect(r.batch == 3 && r.batchSlot == BatchSlot(3))
        #expect(r.engine == nil && r.isUnassigned && r.started == nil && r.completed == nil && r.received == nil)
        #expect(r.processGroup == nil && r.runMicros == nil)
        r.engine = 0
        #expect(r.engine == 0 && !r.isUnassigned && r.isAssigned(to: 0) && !r.isAssigned(to: 1))
        r.started = Timestamp(microseconds: 100)
        r.completed = Timestamp(microseconds: 350)
        r.processGroup = 4242
        #expect(r.started?.microseconds == 100 && r.runMicros == 250 && r.processGroup == 4242)
        r.engine = nil
        r.started = nil
        r.processGroup = nil
        #expect(r.engine == nil && r.isUnassigned && r.started == nil && r.runMicros == nil && r.processGroup == nil)
        #expect(MemoryLayout<TaskRecord>.stride <= 56, "stored compactly: one record per task, millions of tasks")
    }

    /// The verdict on `dep` when its tasks (ids 1...) have the given statuses.
    func verdict(_ statuses: [TaskStatus], all: Bool, success: Bool = true, failure: Bool = false) -> DependencyVerdict {
        let dep = Dependency(statuses.indices.map { TaskID($0 + 1) }, all: all, success: success, failure: failure)
        return DependencyVerdict(dep, status: { statuses[TaskSlot($0).index] })
    }

    @Test("all: met when every one ended as required, waiting while one is open, impossible once one ended otherwise")
    func verdictAll() {
        #expect(verdict([.ok, .ok], all: true) == .met)
        #expect(verdict([.ok, .running], all: true) == .waiting)
        #expect(verdict([.pending, .error], all: true) == .impossible, "impossible at once, before the others end")
        #expect(verdict([.ok, .aborted], all: true) == .impossible)
        // On failure only.
        #expect(verdict([.error, .timeout, .aborted], all: true, success: false, failure: true) == .met)
        #expect(verdict([.error, .ok], all: true, success: false, failure: true) == .impossible)
        #expect(verdict([.error, .pending], all: true, success: false, failure: true) == .waiting)
        // On either.
        #expect(verdict([.ok, .error], all: true, success: true, failure: true) == .met)
        #expect(verdict([], all: true) == .met)
    }

    @Test("any: met once one ended as required, waiting while one could, impossible when none did")
    func verdictAny() {
        #expect(verdict([.error, .ok], all: false) == .met)
        #expect(verdict([.pending, .ok], all: false) == .met, "met before the others end")
        #expect(verdict([.error, .running], all: false) == .waiting)
        #expect(verdict([.error, .aborted], all: false) == .impossible)
        // On failure only.
        #expect(verdict([.ok, .timeout], all: false, success: false, failure: true) == .met)
        #expect(verdict([.ok, .pending], all: false, success: false, failure: true) == .waiting)
        #expect(verdict([.ok, .ok], all: false, success: false, failure: true) == .impossible)
        #expect(verdict([], all: false) == .met)
    }

    @Test("several dependencies: the least verdict wins; none is met")
    func verdictCombined() {
        let done = Dependency([TaskID(1)])
        let open = Dependency([TaskID(2)])
        let failed = Dependency([TaskID(3)])
        let status: (TaskID) -> TaskStatus = { [.ok, .running, .error][$0.rawValue - 1] }
        #expect(DependencyVerdict([done, open], status: status) == .waiting)
        #expect(DependencyVerdict([open, failed], status: status) == .impossible)
        #expect(DependencyVerdict([done], status: status) == .met)
        #expect(DependencyVerdict([], status: status) == .met)
        #expect(DependencyVerdict.impossible < .waiting && DependencyVerdict.waiting < .met)
    }

    @Test("the tracker hands back who waited on a finished task, once")
    func tracker() {
        var t = DependencyTracker()
        let status: (TaskID) -> TaskStatus = { $0.rawValue == 1 ? .ok : .pending }
        t.wait(TaskSlot(5), on: [Dependency([TaskID(1), TaskID(2), TaskID(3)])], status: status)
        t.wait(TaskSlot(6), on: [Dependency([TaskID(2)])], status: status)
        #expect(t.count == 2 && t.isWaiting(TaskSlot(5)))
        #expect(t.waiters(of: TaskSlot(TaskID(1))).isEmpty, "a finished dependency is not waited on")
        #expect(t.waiters(of: TaskSlot(TaskID(2))) == [TaskSlot(5), TaskSlot(6)])
        #expect(t.waiters(of: TaskSlot(TaskID(2))).isEmpty)
        t.forget(TaskSlot(5))
        #expect(!t.isWaiting(TaskSlot(5)) && t.count == 1)
    }

    @Test("ready queues: FIFO order, retries first, pinned per engine")
    func queues() {
        var q = ReadyQueues()
        #expect(q.isEmpty)
        q.append(TaskSlot(1))
        q.append(TaskSlot(2))
        q.constrain(TaskSlot(3))
        q.constrainFirst(TaskSlot(4))
        #expect(q.constrained == [TaskSlot(4), TaskSlot(3)])
        #expect(q.popFirst() == TaskSlot(1) && q.popFirst() == TaskSlot(2) && q.popFirst() == nil)
        q.addEngine()
        q.addEngine()
        q.pin(TaskSlot(7), to: 1)
        q.pinFirst(TaskSlot(8), to: 1)
        #expect(!q.hasPinned(0) && q.hasPinned(1))
        #expect(q.popPinned(1) == TaskSlot(8))
        #expect(q.unpinAll(1) == [TaskSlot(7)] && !q.hasPinned(1))
    }

    @Test("rate meter: completions in 250 ms buckets over the last 5 s; a short run divides by its own length")
    func rateMeter() {
        let t0: Int64 = 1_000_000_000
        var m = RateMeter(startedAt: t0)
        #expect(m.rate(now: t0 + 1_000_000) == 0)
        for i in 0..<10 { m.count(at: t0 + 2_000_000 + Int64(i) * 10_000) }
        // 2.5 s after the start: 10 completions over 2.5 s.
        #expect(abs(m.rate(now: t0 + 2_500_000) - 4) < 1e-9)
        // Within the first 250 ms the span is 0.25 s, never less.
        var early = RateMeter(startedAt: t0)
        early.count(at: t0 + 1_000)
        #expect(abs(early.rate(now: t0 + 2_000) - 4) < 1e-9)
        // Long after the start: over 5 s, the latest 20 buckets including the current one.
        #expect(abs(m.rate(now: t0 + 6_900_000) - 10.0 / 5) < 1e-9)
        #expect(m.rate(now: t0 + 7_000_000) == 0, "the 2.0-2.25 s bucket has left the ring")
        // A ring entry reused by a later bucket starts from zero.
        m.count(at: t0 + 7_000_000)
        #expect(abs(m.rate(now: t0 + 7_000_000) - 1.0 / 5) < 1e-9)
    }

    @Test("the average rate the progress bars and line show: done over seconds, 0 before time passes")
    func averageRate() {
        #expect(RateMeter.average(10, seconds: 4) == 2.5)
        #expect(RateMeter.average(10, seconds: 0) == 0)
        #expect(RateMeter.average(0, seconds: 3) == 0)
    }
}

@Suite("constrained tasks released while the constrained list is walked")
struct ConstrainedWalkTests {
    @Test("a follower released by a failure during the walk is not lost: it ends, with its reason")
    func followerReleasedDuringWalkIsKept() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        // X runs on engine 0, which then leaves: whatever follows X can never run.
        let x = try client.directView(targets: [0]).applyAsync { 1 }
        #expect(x.wait(timeout: 10))
        try client.removeEngine(0)
        client.scheduler.isPaused = true
        var a = client.loadBalancedView()
        a.flags.follow = Dependency(x.msgIds)
        let first = try a.applyAsync { 2 }
        // B waits for A to fail, and follows X too: released by A's failure inside the walk, into the same list.
        var b = client.loadBalancedView()
        b.flags.after = Dependency.failureOnly(first.msgIds)
        b.flags.follow = Dependency(x.msgIds)
        let second = try b.applyAsync { 3 }
        client.scheduler.isPaused = false
        #expect(first.wait(timeout: 10))
        #expect(second.wait(timeout: 10), "the follower stayed pending: lost from the constrained list")
        #expect(second.metadata(0)?.status == .error)
        #expect(second.metadata(0)?.error?.contains("impossible dependency") == true, "\(String(describing: second.metadata(0)?.error))")
    }
}
