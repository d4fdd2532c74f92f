import DequeModule
import Dispatch

extension Scheduler {
    /// Everything the scheduler knows, guarded by its one `Mutex`: the parts (task store, ready queues, dependency
    /// tracker, rate meter) and the engines, with dispatch, starting and finishing across them.
    struct State {
        var scheme: Scheme
        var rng: SplitMix64
        let startedAt: Int64
        var tasks = TaskStore()
        var engines = EngineTable()
        /// The free engines in the scheme's order, kept up to date from the engines' changes (see `EnginePicker`).
        var picker = EnginePicker()
        var queues = ReadyQueues()
        var dependencies = DependencyTracker()
        var totals = StatusCounts()
        var paused = false
        /// See `Scheduler.waitsForEngines`.
        var waitsForEngines = false
        var generation: UInt64 = 0
        var lruCounter = 0
        /// The newest task that started (the table's follow anchor).
        var newestStarted: TaskSlot?
        /// The batch whose tasks are still being made (lazy or streamed): the store's last batch until it is made.
        var making: BatchSlot?
        /// Observers in the order they were added (a journal added first writes before a printer prints).
        var observers = [Observer]()
        var observerCounter = 0
        /// Events not yet delivered, and the wake-ups to run once they are (see `EventDelivery`).
        var outbox = [SchedulerEvent]()
        var outboxWakes = [@Sendable () -> Void]()
        /// Events queued and delivered so far, and who waits for delivery to reach a count.
        var enqueued: UInt64 = 0
        var delivered: UInt64 = 0
        var deliveryWaiters = [(upTo: UInt64, bell: DispatchSemaphore)]()
        let delivery: EventDelivery
        var waiterCounter = 0
        /// Completions, for the recent rate.
        var completions: RateMeter
        /// Tasks whose table keys changed, in order, for the sources that keep a copy of the table (see `taskKeys`).
        var keyLog = KeyLog()
        /// The task stream's aggregated lanes, kept as tasks end while a reader shows them (see `recordRun`).
        var laneRings = LaneRings()

        let clock: any PPClock

        init(scheme: Scheme, rng: SplitMix64, startedAt: Int64, clock: any PPClock, delivery: EventDelivery) {
            self.clock = clock
            self.delivery = delivery
            self.scheme = scheme
            self.rng = rng
            self.startedAt = startedAt
            self.completions = RateMeter(startedAt: startedAt)
        }

        var aliveIDs: [EngineID] { engines.indices.filter { engines[$0].alive && !engines[$0].draining } }

        mutating func emit(_ e: @autoclosure () -> SchedulerEvent) {
            guard !observers.isEmpty else { return }
            outbox.append(e())
            enqueued &+= 1
            if outbox.count == EventDelivery.backlog { delivery.backlogged.store(true, ordering: .relaxed) }
        }

        // MARK: dispatch

        /// Pending and with no engine: a queue entry for it is still live.
        @inline(__always) func isDispatchable(_ slot: TaskSlot) -> Bool {
            tasks[slot].status == .pending && tasks[slot].isUnassigned
        }

        /// How many made, unassigned tasks a lazy batch keeps queued ahead of the engines.
        static let readAhead = 4096

        /// A new batch waits until the one being made is made: ids of a batch are contiguous.
        func refuseWhileMaking() throws(PPError) {
            guard let b = making else { return }
            let what = tasks[b].open ? "its input is still being read" : "its tasks are made as they run"
            throw PPError(.invalidState, "batch \(b.id) is still being submitted (\(what)): submit again once it is")
        }

        /// Makes one task of a lazy or streamed batch (already counted pending) and queues it.
        mutating func makeTask(_ b: BatchSlot, work: TaskWork, now: Timestamp) {
            let slot = tasks.nextSlot
            let seq = tasks[b].count + 1
            tasks.append(TaskRecord(batch: b, seq: seq, submitted: now.microseconds), work: work)
            tasks[b].count += 1
            if let targets = tasks[b].options.targets {
                queues.pin(slot, to: targets[(seq - 1) % targets.count])
            } else {
                queues.append(slot)
            }
            emit(.submitted(task: slot.id, batch: b.id))
        }

        /// Makes tasks of the lazy batch until `readAhead` wait in the ready queue (or it is all made).
        mutating func topUp() {
            guard let b = making, let make = tasks[b].make else { return }
            let now = clock.now()
            // Made and not started: counted per batch (the queue also holds stale entries).
            while tasks[b].counts.pending - tasks[b].unmade < Self.readAhead && tasks[b].count < tasks[b].planned {
                makeTask(b, work: make(tasks[b].count), now: now)
            }
            if tasks[b].count == tasks[b].planned {
                tasks[b].make = nil
                making = nil
            }
        }

        /// The tasks of `b` not made yet finish as `status` (they never run, nothing is recorded per task: a resume
        /// plans them from the journal's header); a stream is closed. Returns how many.
        @discardableResult
        mutating func settleUnmade(_ b: BatchSlot, status: TaskStatus, fx: inout Effects) -> Int {
            guard tasks.contains(b), making == b else { return 0 }
            let n = tasks[b].unmade
            tasks[b].counts.pending -= n
            tasks[b].counts[status] += n
            totals.pending -= n
            totals[status] += n
            tasks[b].planned = tasks[b].count + n
            tasks[b].make = nil
            tasks[b].open = false
            making = nil
            generation &+= 1
            fireIfDone(b, fx: &fx)
            return n
        }

        /// Hands ready tasks to engines with spare capacity, as the scheme chooses.
        mutating func dispatch(_ fx: inout Effects) {
            guard !paused else { return }
            topUp()
            // Pinned tasks (direct views) first; no walk over the engines while nothing is pinned.
            if queues.pinnedCount > 0 {
                for e in engines.indices where engines[e].capacity > 0 && queues.hasPinned(e) {
                    while engines[e].capacity > 0, let slot = queues.popPinned(e) {
                        guard isDispatchable(slot) else { continue }
                        assign(slot, to: e, fx: &fx)
                    }
                }
            }
            // Nothing waiting: no work (and no allocation) on the completion path.
            if queues.isEmpty { return }
            picker.sync(&engines, scheme: scheme)
            if picker.free.isEmpty { return }
            // Constrained tasks: each has its own set of eligible engines (a walk over the free ones, as they are rare).
            if !queues.constrained.isEmpty {
                var free = picker.free
                var keep = [TaskSlot]()
                // Taken out while walked; a failure here may release followers into the list: they are walked next.
                var list = queues.constrained
                queues.constrained = []
                walk: while !list.isEmpty {
                    for (pos, slot) in list.enumerated() {
                        guard isDispatchable(slot) else { continue }
                        picker.examined += free.count
                        switch eligible(slot, among: free) {
                        case .some(let cands) where !cands.isEmpty:
                            assign(slot, to: choose(cands), free: &free, fx: &fx)
                        case .some:
                            keep.append(slot)
                        case .none:
                            let why =
                                tasks.extras[slot]?.follow != nil
                                ? "impossible dependency: no alive engine is one where the tasks it follows ran"
                                : "no alive engine can run it (a Swift closure needs an in-process engine)"
                            failTask(slot, status: .error, error: why, fx: &fx, now: clock.now())
                        }
                        if free.isEmpty {
                            // Nothing more fits now; keep the rest in order.
                            keep.append(contentsOf: list[(pos + 1)...])
                            keep.append(contentsOf: queues.constrained)
                            queues.constrained = []
                            break walk
                        }
                    }
                    list = queues.constrained
                    queues.constrained = []
                }
                queues.constrained = keep
                picker.sync(&engines, scheme: scheme)
                if picker.free.isEmpty { return }
            }
            // The free engines come from the picker: each pick costs O(log engines), never a walk over them all.
            while let slot = queues.popFirst() {
                guard isDispatchable(slot) else { continue }
                if !tasks.work(slot).isPortable && picker.freeRemote > 0 {
                    // A Swift closure can only run in this process (engines of both kinds: a walk, as before).
                    picker.examined += engines.count
                    if !engines.contains(where: { $0.alive && !$0.draining && $0.runsClosures }) {
                        failTask(slot, status: .error, error: "no engine can run this Swift closure: only in-process (local) engines can", fx: &fx, now: clock.now())
                        continue
                    }
                    let local = picker.free.filter { engines[$0].runsClosures }
                    if local.isEmpty {
                        queues.constrain(slot)
                        continue
                    }
                    assign(slot, to: choose(local), fx: &fx)
                } else {
                    let e = picker.pick(scheme, rng: &rng, engines: engines)
                    assign(slot, to: e, fx: &fx)
                    // The one free engine is full now (a hand-back's usual case): none is free, known without a sync
                    // (only `e` changed since the last one; the next dispatch takes the change in).
                    if picker.free.count == 1 && engines[e].capacity == 0 { return }
                }
                picker.sync(&engines, scheme: scheme)
                if picker.free.isEmpty { return }
            }
        }

        /// Assigns `slot` to `e`, taking `e` out of `free` once it is full. True when no engine is left free.
        @discardableResult
        mutating func assign(_ slot: TaskSlot, to e: Int, free: inout [Int], fx: inout Effects) -> Bool {
            assign(slot, to: e, fx: &fx)
            if engines[e].capacity == 0 { free.removeAll { $0 == e } }
            return free.isEmpty
        }

        /// Applies the scheme to candidate engines (ordered by LRU).
        mutating func choose(_ cands: [Int]) -> Int {
            if cands.count == 1 { return cands[0] }
            picker.examined += cands.count
            let ordered = cands.sorted { engines[$0].lru < engines[$1].lru }
            let loads = ordered.map { engines[$0].assigned.count }
            return ordered[scheme.choose(loads: loads, using: &rng)]
        }

        mutating func assign(_ slot: TaskSlot, to e: Int, fx: inout Effects) {
            picker.assignments += 1
            tasks[slot].engine = e
            noteChange(slot)
            let work = tasks.work(slot)
            lruCounter += 1
            engines[e].take(slot, cost: work.hwmCost(hwm: engines[e].hwm), lru: lruCounter)
            let a = assignment(slot, work: work, engine: e)
            if e == fx.carryFor {
                // Its first assignment only (no copy of the optional to test it: the engine is forgotten).
                fx.carryFor = -1
                fx.carried = a
            } else {
                fx.runs.append(Effects.Run(engine: engines[e].engine, assignment: a))
            }
        }

        /// What engine `e` is handed for `slot`: the batch's fields in its one shared context (made at its first
        /// assignment), one reference per task instead of a copy of each string and table.
        mutating func assignment(_ slot: TaskSlot, work: TaskWork, engine e: Int) -> Assignment {
            let b = tasks[slot].batchSlot
            if tasks[b].context == nil {
                let o = tasks[b].options
                tasks[b].context = AssignmentContext(
                    AssignmentContext.Fields(
                        runTimeLimit: o.runTimeLimit, maxOutput: o.maxOutput, spoolDirectory: o.spoolDirectory,
                        outputTap: o.outputTap, workingDirectory: o.workingDirectory, environment: o.environment))
            }
            return Assignment(task: slot.id, work: work, slot: e + 1, context: tasks[b].context!)
        }

        /// Remembers a change of a task's table keys (only while a source keeps a copy of the table).
        @inline(__always) mutating func noteChange(_ slot: TaskSlot) {
            guard keyLog.on else { return }
            keyLog.append(Int32(slot.index))
        }

        /// The engine began running `slot`.
        mutating func markStarted(_ slot: TaskSlot, engine: Int, at: Timestamp, processGroup: Int32? = nil) {
            engines[engine].running(slot, since: at.microseconds)
            guard tasks[slot].status == .pending, tasks[slot].isAssigned(to: engine) else { return }
            tasks[slot].status = .running
            tasks[slot].started = at
            tasks[slot].processGroup = processGroup
            noteChange(slot)
            totals.move(from: .pending, to: .running)
            tasks[batchOf: slot].counts.move(from: .pending, to: .running)
            if newestStarted.map({ slot > $0 }) ?? true { newestStarted = slot }
            generation &+= 1
            emit(.started(task: slot.id, engine: engine, at: at, processGroup: processGroup))
        }

        // MARK: finishing

        mutating func abortTask(_ slot: TaskSlot, fx: inout Effects, now: Timestamp) {
            guard tasks.contains(slot), !tasks[slot].status.isFinished else { return }
            if let e = tasks[slot].engine { fx.cancels.append(Effects.Cancel(engine: engines[e].engine, task: slot.id, reason: .aborted)) }
            dependencies.forget(slot)
            failTask(slot, status: .aborted, error: tasks[slot].status == .running ? "aborted while running" : "aborted before it ran", fx: &fx, now: now)
        }

        /// Finishes a task that did not produce an outcome of its own.
        mutating func failTask(_ slot: TaskSlot, status: TaskStatus, error: String, fx: inout Effects, now: Timestamp) {
            let started = tasks[slot].started
            finish(slot, outcome: TaskOutcome(status: status, error: error, started: started ?? now, completed: now), received: now, fx: &fx, keepStarted: started != nil)
        }

        mutating func finish(_ slot: TaskSlot, outcome: TaskOutcome, received: Timestamp, fx: inout Effects, keepStarted: Bool = true) {
            let was = tasks[slot].status
            guard !was.isFinished else { return }
            tasks[slot].status = outcome.status
            noteChange(slot)
            if tasks[slot].started == nil && keepStarted { tasks[slot].started = outcome.started }
            tasks[slot].completed = outcome.completed
            tasks[slot].received = received
            tasks.results[slot.index] = outcome.value
            let hasExtras = !tasks.extras.isEmpty && tasks.extras[slot] != nil
            if !hasExtras && outcome.error == nil && outcome.signal == nil && outcome.stdout.isEmpty
                && outcome.stderr.isEmpty
            {
                // A plain end (a shell task's exit status and resource use): the compact table, not a TaskExtra.
                if outcome.exitStatus != nil || outcome.usage != nil {
                    tasks.plainEnds[slot] = PlainEnd(exitStatus: outcome.exitStatus, usage: outcome.usage)
                }
            } else if outcome.error != nil || outcome.exitStatus != nil || outcome.signal != nil || !outcome.stdout.isEmpty
                || !outcome.stderr.isEmpty || outcome.usage != nil || hasExtras
            {
                if !tasks.plainEnds.isEmpty { tasks.plainEnds[slot] = nil }
                var x = tasks.extras[slot] ?? TaskExtra()
                x.stdout = outcome.stdout
                x.stderr = outcome.stderr
                x.error = outcome.error
                x.exitStatus = outcome.exitStatus
                x.signal = outcome.signal
                x.usage = outcome.usage
                tasks.extras[slot] = x
            }
            totals.move(from: was, to: outcome.status)
            let run = tasks[slot].runMicros
            let b = tasks[slot].batchSlot
            tasks[b].counts.move(from: was, to: outcome.status)
            tasks[b].completionOrder.append(Int32(slot.index))
            if let run { tasks[b].serialMicros = tasks[b].serialMicros.addingReportingOverflow(run).overflow ? .max : tasks[b].serialMicros + run }
            tasks[b].lastReceived = max(tasks[b].lastReceived, received.microseconds)
            completions.count(at: received.microseconds)
            generation &+= 1
            if !tasks[b].streams.isEmpty { for (_, c) in tasks[b].streams { c.yield(slot.index) } }
            emit(.completed(task: slot.id, batch: b.id, status: outcome.status))
            if let halt = tasks[b].options.halt, !tasks[b].halted,
                tasks[b].options.haltOn.map({ $0.reached(tasks[b].counts, total: tasks[b].planned) }) ?? outcome.status.isFailure
            {
                halted(b, halt, fx: &fx, now: received)
            }
            fireIfDone(b, fx: &fx)
            resolveDependents(of: slot, fx: &fx, now: received)
        }

        /// A batch's first failure under a halt policy: its tasks not started are aborted (and, `now`, running ones).
        mutating func halted(_ b: BatchSlot, _ halt: HaltPolicy, fx: inout Effects, now: Timestamp) {
            tasks[b].halted = true
            for slot in tasks[b].slots where tasks[slot].status == .pending || halt == .now {
                abortTask(slot, fx: &fx, now: now)
            }
            settleUnmade(b, status: .aborted, fx: &fx)
        }

        mutating func fireIfDone(_ b: BatchSlot, fx: inout Effects) {
            guard tasks[b].isDone else { return }
            for w in tasks[b].doneWaiters { fx.wakes.append(w.wake) }
            tasks[b].doneWaiters.removeAll()
            for (_, c) in tasks[b].streams { c.finish() }
            tasks[b].streams.removeAll()
        }

        /// With no engine left to take work (every one died; none removed by hand only) and none expected
        /// (`waitsForEngines` off), every unassigned unfinished task fails with an engine error naming the deaths,
        /// as ipyparallel's `EngineError`: a run never waits for engines that cannot come.
        mutating func failIfNoEngineLeft(fx: inout Effects, now: Timestamp) {
            guard !waitsForEngines, !engines.isEmpty, aliveIDs.isEmpty, totals.pending > 0 else { return }
            let deaths = engines.indices.compactMap { e -> String? in
                guard !engines[e].alive, let why = engines[e].deathReason, why != "removed" else { return nil }
                return "engine \(e) (\(engines[e].info.host)) died: \(why)"
            }
            guard !deaths.isEmpty else { return }
            var why = deaths.prefix(3).joined(separator: "; ")
            if deaths.count > 3 { why += "; and \(deaths.count - 3) more" }
            let error = "no engine left to run it: \(why)"
            for slot in (0..<tasks.count).lazy.map(TaskSlot.init) where isDispatchable(slot) {
                dependencies.forget(slot)
                failTask(slot, status: .error, error: error, fx: &fx, now: now)
            }
            if let b = making { settleUnmade(b, status: .error, fx: &fx) }
        }

        mutating func markRemoved(_ e: Int) {
            engines[e].alive = false
            engines[e].draining = false
            engines[e].deathReason = "removed"
            emit(.engineDied(e, reason: "removed"))
        }

        // MARK: reading

        func text(_ slot: TaskSlot) -> String { taskText(slot).text }

        /// What a task's text is made of: cheap to copy under the lock, rendered outside it.
        func taskText(_ slot: TaskSlot) -> TaskText {
            TaskText(work: tasks.work(slot), label: tasks[batchOf: slot].options.label, seq: Int(tasks[slot].seq))
        }

        func args(_ slot: TaskSlot) -> [String] {
            if case .shell(let t) = tasks.work(slot) { return t.args }
            if case .builtin(.sleepSquare(let x, _)) = tasks.work(slot) { return [String(x)] }
            return []
        }

        func metadata(_ slot: TaskSlot) -> TaskMetadata? {
            guard tasks.contains(slot) else { return nil }
            let r = tasks[slot]
            let x = tasks.extra(slot)
            return TaskMetadata(
                id: slot.id, batch: Int(r.batch), seq: Int(r.seq), engine: r.engine,
                engineHost: r.engine.map { engines[$0].info.host }, status: r.status,
                submitted: Timestamp(microseconds: r.submitted), started: r.started, completed: r.completed,
                received: r.received, retries: Int(r.retries), stdout: x?.stdout ?? .empty, stderr: x?.stderr ?? .empty,
                error: x?.error, exitStatus: x?.exitStatus, signal: x?.signal, after: x?.after, follow: x?.follow,
                text: text(slot), args: args(slot), processGroup: r.processGroup, usage: x?.usage)
        }

        func key(_ slot: TaskSlot) -> TaskKey {
            let r = tasks[slot]
            return TaskKey(
                batch: r.batch, seq: r.seq, engine: r.engine.map { Int32($0) } ?? -1, status: r.status, retries: r.retries,
                submitted: r.submitted, started: r.started?.microseconds ?? 0, completed: r.completed?.microseconds ?? 0)
        }

        /// What a failed task says of its failure.
        func failure(_ slot: TaskSlot) -> TaskFailure {
            let r = tasks[slot]
            return TaskFailure(task: slot.id, engine: r.engine, status: r.status, message: tasks.extras[slot]?.error ?? r.status.description)
        }

        func row(_ slot: TaskSlot) -> TaskRow { TaskRow(index: slot.index, key: key(slot), text: text(slot)) }
    }
}
