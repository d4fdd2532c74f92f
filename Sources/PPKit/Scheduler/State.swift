import DequeModule
import Dispatch

extension Scheduler {
    /// Everything the scheduler knows, guarded by its one `Mutex`.
    struct State {
        var scheme: Scheme
        var rng: SplitMix64
        let startedAt: Int64
        var records = ContiguousArray<TaskRecord>()
        var works = ContiguousArray<TaskWork>()
        var results = ContiguousArray<(any Sendable)?>()
        var extras = [Int: TaskExtra]()
        var batches = [BatchState]()
        var engines = [EngineSlot]()
        /// Ready tasks in FIFO order (lazily skipping ones that were aborted or assigned).
        var ready = Deque<Int>()
        /// Ready tasks that can only go to some engines (follow, retry blacklists).
        var constrained = [Int]()
        /// Tasks waiting for their dependencies.
        var waiting = Set<Int>()
        /// Dependency index -> tasks waiting on it.
        var dependents = [Int: [Int]]()
        var totals = StatusCounts()
        var paused = false
        var generation: UInt64 = 0
        var lruCounter = 0
        var newestStarted = 0
        /// Observers in the order they were added (a journal added first writes before a printer prints).
        var observers = [(token: Int, call: @Sendable (SchedulerEvent) -> Void)]()
        var observerCounter = 0
        /// Events not yet delivered, and the wake-ups to run once they are (see `EventDelivery`).
        var outbox = [SchedulerEvent]()
        var outboxWakes = [@Sendable () -> Void]()
        /// Events queued and delivered so far, and who waits for delivery to reach a count.
        var enqueued: UInt64 = 0
        var delivered: UInt64 = 0
        var deliveryWaiters = [(upTo: UInt64, bell: DispatchSemaphore)]()
        var deliveryStarted = false
        let delivery: EventDelivery
        var waiterCounter = 0
        /// Completions per 250 ms bucket, a 5 s ring, for the rate.
        var rateBuckets = [Int](repeating: 0, count: 20)
        var rateEpoch = [Int64](repeating: -1, count: 20)
        /// Tasks whose table keys changed, in order, for the sources that keep a copy of the table (see `taskKeys`).
        var keyLog = KeyLog()

        let clock: any PPClock

        init(scheme: Scheme, rng: SplitMix64, startedAt: Int64, clock: any PPClock, delivery: EventDelivery) {
            self.clock = clock
            self.delivery = delivery
            self.scheme = scheme
            self.rng = rng
            self.startedAt = startedAt
        }

        /// Makes room for `count` tasks in the per-task arrays, at least doubling when they must grow.
        mutating func reserveRecords(_ count: Int) {
            guard records.capacity < count || works.capacity < count || results.capacity < count else { return }
            let target = max(count, records.count * 2)
            records.reserveCapacity(target)
            works.reserveCapacity(target)
            results.reserveCapacity(target)
        }

        var aliveIDs: [EngineID] { engines.indices.filter { engines[$0].alive && !engines[$0].draining } }

        mutating func emit(_ e: @autoclosure () -> SchedulerEvent) {
            guard !observers.isEmpty else { return }
            outbox.append(e())
            enqueued &+= 1
            if outbox.count == EventDelivery.backlog { delivery.backlogged.store(true, ordering: .relaxed) }
        }

        // MARK: dispatch

        /// Hands ready tasks to engines with spare capacity, as the scheme chooses.
        mutating func dispatch(_ fx: inout Effects) {
            guard !paused else { return }
            // Pinned tasks (direct views) first.
            for e in engines.indices where engines[e].capacity > 0 && !engines[e].pinned.isEmpty {
                while engines[e].capacity > 0, let idx = engines[e].pinned.popFirst() {
                    guard records[idx].status == .pending, records[idx].engine < 0 else { continue }
                    assign(idx, to: e, fx: &fx)
                }
            }
            // Nothing waiting: no work (and no allocation) on the completion path.
            if ready.isEmpty && constrained.isEmpty { return }
            var free = engines.indices.filter { engines[$0].capacity > 0 }
            if free.isEmpty { return }
            // Constrained tasks: each has its own set of eligible engines.
            if !constrained.isEmpty {
                var keep = [Int]()
                for idx in constrained {
                    guard records[idx].status == .pending, records[idx].engine < 0 else { continue }
                    switch eligible(idx, among: free) {
                    case .some(let cands) where !cands.isEmpty:
                        let e = choose(cands)
                        assign(idx, to: e, fx: &fx)
                        if engines[e].capacity == 0 { free.removeAll { $0 == e } }
                    case .some:
                        keep.append(idx)
                    case .none:
                        let why =
                            extras[idx]?.follow != nil
                            ? "impossible dependency: no alive engine is one where the tasks it follows ran"
                            : "no alive engine can run it (a Swift closure needs an in-process engine)"
                        failTask(idx, status: .error, error: why, fx: &fx, now: clock.now())
                    }
                    if free.isEmpty {
                        // Nothing more fits now; keep the rest in order.
                        if let pos = constrained.firstIndex(of: idx) { keep.append(contentsOf: constrained[(pos + 1)...]) }
                        break
                    }
                }
                constrained = keep
                if free.isEmpty { return }
            }
            while let idx = ready.first {
                guard records[idx].status == .pending, records[idx].engine < 0 else {
                    ready.removeFirst()
                    continue
                }
                ready.removeFirst()
                if !works[idx].isPortable && !free.allSatisfy({ engines[$0].runsClosures }) {
                    // A Swift closure can only run in this process.
                    if !engines.contains(where: { $0.alive && !$0.draining && $0.runsClosures }) {
                        failTask(idx, status: .error, error: "no engine can run this Swift closure: only in-process (local) engines can", fx: &fx, now: clock.now())
                        continue
                    }
                    let local = free.filter { engines[$0].runsClosures }
                    if local.isEmpty {
                        constrained.append(idx)
                        continue
                    }
                    let e = choose(local)
                    assign(idx, to: e, fx: &fx)
                    if engines[e].capacity == 0 {
                        free.removeAll { $0 == e }
                        if free.isEmpty { return }
                    }
                    continue
                }
                let e = choose(free)
                assign(idx, to: e, fx: &fx)
                if engines[e].capacity == 0 {
                    free.removeAll { $0 == e }
                    if free.isEmpty { return }
                }
            }
        }

        /// Engines among `free` that may take `idx` now; empty if it must wait; nil if no alive engine ever could.
        mutating func eligible(_ idx: Int, among free: [Int]) -> [Int]? {
            var possible = aliveIDs
            if !works[idx].isPortable { possible = possible.filter { engines[$0].runsClosures } }
            if let follow = extras[idx]?.follow, !follow.isEmpty {
                let allowed = followEngines(follow)
                possible = possible.filter { allowed.contains($0) }
            }
            if possible.isEmpty { return nil }
            let cands = free.filter { possible.contains($0) }
            if let failed = extras[idx]?.failedOn, !failed.isEmpty {
                let fresh = cands.filter { !failed.contains($0) }
                if !fresh.isEmpty { return fresh }
                // Fall back to an engine that failed it only when no other engine that could take it is alive.
                return possible.contains { !failed.contains($0) } ? [] : cands
            }
            return cands
        }

        /// Engines where a follow dependency ran.
        func followEngines(_ dep: Dependency) -> Set<Int> {
            var sets = [Set<Int>]()
            for d in dep.ids {
                let r = records[d.rawValue - 1]
                sets.append(r.engine >= 0 ? [Int(r.engine)] : [])
            }
            if dep.all { return sets.dropFirst().reduce(sets.first ?? []) { $0.intersection($1) } }
            return sets.reduce(into: Set<Int>()) { $0.formUnion($1) }
        }

        /// Applies the scheme to candidate engines (ordered by LRU).
        mutating func choose(_ cands: [Int]) -> Int {
            if cands.count == 1 { return cands[0] }
            let ordered = cands.sorted { engines[$0].lru < engines[$1].lru }
            let loads = ordered.map { engines[$0].assigned.count }
            return ordered[scheme.choose(loads: loads, using: &rng)]
        }

        mutating func assign(_ idx: Int, to e: Int, fx: inout Effects) {
            records[idx].engine = Int32(e)
            noteChange(idx)
            engines[e].assigned.append(idx)
            engines[e].load += works[idx].hwmCost(hwm: engines[e].hwm)
            lruCounter += 1
            engines[e].lru = lruCounter
            let b = batches[Int(records[idx].batch) - 1]
            fx.runs.append(
                (
                    engines[e].engine,
                    Assignment(
                        task: TaskID(idx + 1), work: works[idx], runTimeLimit: b.options.runTimeLimit,
                        maxOutput: b.options.maxOutput, slot: e + 1, workingDirectory: b.options.workingDirectory,
                        environment: b.options.environment)
                ))
        }

        /// Remembers a change of a task's table keys (only while a source keeps a copy of the table).
        @inline(__always) mutating func noteChange(_ idx: Int) {
            guard keyLog.on else { return }
            keyLog.append(Int32(idx))
        }

        /// The engine began running `idx`.
        mutating func markStarted(_ idx: Int, engine: Int, at: Timestamp, processGroup: Int32? = nil) {
            engines[engine].current = idx
            engines[engine].busySince = at.microseconds
            guard records[idx].status == .pending, records[idx].engine == Int32(engine) else { return }
            records[idx].status = .running
            records[idx].started = at.microseconds
            records[idx].processGroup = processGroup ?? 0
            noteChange(idx)
            totals.move(from: .pending, to: .running)
            batches[Int(records[idx].batch) - 1].counts.move(from: .pending, to: .running)
            if idx + 1 > newestStarted { newestStarted = idx + 1 }
            generation &+= 1
            emit(.started(task: TaskID(idx + 1), engine: engine, at: at, processGroup: processGroup))
        }


        /// Puts a failed task back, preferring engines that have not failed it.
        mutating func retryElsewhere(_ idx: Int, failedOn engine: EngineID) {
            let was = records[idx].status
            records[idx].retries += 1
            records[idx].engine = -1
            records[idx].started = 0
            records[idx].status = .pending
            noteChange(idx)
            if was != .pending {
                totals.move(from: was, to: .pending)
                batches[Int(records[idx].batch) - 1].counts.move(from: was, to: .pending)
            }
            extras[idx, default: TaskExtra()].failedOn.append(engine)
            if let target = pinnedTarget(idx) {
                // A direct view's task is retried on its own target.
                engines[target].pinned.prepend(idx)
            } else {
                constrained.insert(idx, at: 0)
            }
            generation &+= 1
        }

        /// The engine a direct view pinned this task to, if any.
        func pinnedTarget(_ idx: Int) -> Int? {
            let b = batches[Int(records[idx].batch) - 1]
            guard let targets = b.options.targets, !targets.isEmpty else { return nil }
            return targets[(Int(records[idx].seq) - 1) % targets.count]
        }

        /// A user's retry of a finished task: back through its targets and dependencies.
        mutating func resubmit(_ idx: Int, fx: inout Effects) {
            let was = records[idx].status
            let b = Int(records[idx].batch) - 1
            if records[idx].started > 0 && records[idx].completed > 0 {
                batches[b].serialMicros -= max(0, records[idx].completed - records[idx].started)
            }
            records[idx].retries += 1
            records[idx].status = .pending
            records[idx].started = 0
            records[idx].completed = 0
            records[idx].received = 0
            let failedEngine = records[idx].engine
            records[idx].engine = -1
            results[idx] = nil
            totals.move(from: was, to: .pending)
            batches[b].counts.move(from: was, to: .pending)
            if let pos = batches[b].completionOrder.lastIndex(of: Int32(idx)) { batches[b].completionOrder.remove(at: pos) }
            extras[idx]?.error = nil
            extras[idx]?.exitStatus = nil
            extras[idx]?.signal = nil
            extras[idx]?.stdout = .empty
            extras[idx]?.stderr = .empty
            if failedEngine >= 0 && was != .aborted { extras[idx, default: TaskExtra()].failedOn.append(Int(failedEngine)) }
            noteChange(idx)
            generation &+= 1
            if let target = pinnedTarget(idx) {
                if aliveIDs.contains(target) {
                    engines[target].pinned.append(idx)
                } else {
                    failTask(idx, status: .error, error: "engine \(target), its direct-view target, is gone", fx: &fx, now: clock.now())
                }
            } else if extras[idx]?.after != nil || extras[idx]?.follow != nil {
                enqueueWithDependencies(idx, fx: &fx, now: clock.now())
            } else if extras[idx]?.failedOn.isEmpty == false {
                constrained.append(idx)
            } else {
                ready.append(idx)
            }
        }

        // MARK: finishing

        mutating func abortTask(_ idx: Int, fx: inout Effects, now: Timestamp) {
            guard records.indices.contains(idx), !records[idx].status.isFinished else { return }
            let e = records[idx].engine
            if e >= 0 {
                let reason: CancelReason = .aborted
                fx.cancels.append((engines[Int(e)].engine, TaskID(idx + 1), reason))
            }
            waiting.remove(idx)
            failTask(idx, status: .aborted, error: records[idx].status == .running ? "aborted while running" : "aborted before it ran", fx: &fx, now: now)
        }

        /// Finishes a task that did not produce an outcome of its own.
        mutating func failTask(_ idx: Int, status: TaskStatus, error: String, fx: inout Effects, now: Timestamp) {
            let started = records[idx].started > 0 ? Timestamp(microseconds: records[idx].started) : now
            finish(idx, outcome: TaskOutcome(status: status, error: error, started: started, completed: now), received: now, fx: &fx, keepStarted: records[idx].started > 0)
        }

        mutating func finish(_ idx: Int, outcome: TaskOutcome, received: Timestamp, fx: inout Effects, keepStarted: Bool = true) {
            let was = records[idx].status
            guard !was.isFinished else { return }
            let b = Int(records[idx].batch) - 1
            records[idx].status = outcome.status
            noteChange(idx)
            if records[idx].started == 0 && keepStarted { records[idx].started = outcome.started.microseconds }
            records[idx].completed = outcome.completed.microseconds
            records[idx].received = received.microseconds
            results[idx] = outcome.value
            if outcome.error != nil || outcome.exitStatus != nil || outcome.signal != nil || !outcome.stdout.text.isEmpty
                || !outcome.stderr.text.isEmpty || outcome.stdout.droppedBytes > 0 || outcome.stderr.droppedBytes > 0
                || extras[idx] != nil
            {
                var x = extras[idx] ?? TaskExtra()
                x.stdout = outcome.stdout
                x.stderr = outcome.stderr
                x.error = outcome.error
                x.exitStatus = outcome.exitStatus
                x.signal = outcome.signal
                extras[idx] = x
            }
            totals.move(from: was, to: outcome.status)
            batches[b].counts.move(from: was, to: outcome.status)
            batches[b].completionOrder.append(Int32(idx))
            if records[idx].started > 0 {
                batches[b].serialMicros += max(0, records[idx].completed - records[idx].started)
            }
            batches[b].lastReceived = max(batches[b].lastReceived, received.microseconds)
            countRate(received.microseconds)
            generation &+= 1
            for (_, c) in batches[b].streams { c.yield(idx) }
            emit(.completed(task: TaskID(idx + 1), batch: b + 1, status: outcome.status))
            if outcome.status.isFailure, let halt = batches[b].options.halt, !batches[b].halted {
                halted(b, halt, fx: &fx, now: received)
            }
            fireIfDone(b, fx: &fx)
            resolveDependents(of: idx, fx: &fx, now: received)
        }

        /// A batch's first failure under a halt policy: its tasks not started are aborted (and, `now`, running ones).
        mutating func halted(_ b: Int, _ halt: HaltPolicy, fx: inout Effects, now: Timestamp) {
            batches[b].halted = true
            let first = batches[b].first
            for idx in first..<(first + batches[b].count) where records[idx].status == .pending || halt == .now {
                abortTask(idx, fx: &fx, now: now)
            }
        }

        mutating func fireIfDone(_ b: Int, fx: inout Effects) {
            guard batches[b].isDone else { return }
            for (_, w) in batches[b].doneWaiters { fx.wakes.append(w) }
            batches[b].doneWaiters.removeAll()
            for (_, c) in batches[b].streams { c.finish() }
            batches[b].streams.removeAll()
        }

        mutating func countRate(_ micros: Int64) {
            let bucket = micros / 250_000
            let i = Int(bucket % 20)
            if rateEpoch[i] != bucket {
                rateEpoch[i] = bucket
                rateBuckets[i] = 0
            }
            rateBuckets[i] += 1
        }

        func rate(now micros: Int64) -> Double {
            let bucket = micros / 250_000
            var n = 0
            for k in 1...20 {
                let b = bucket - Int64(k) + 1
                let i = Int(((b % 20) + 20) % 20)
                if rateEpoch[i] == b { n += rateBuckets[i] }
            }
            let span = min(5.0, max(0.25, Double(micros - startedAt) / 1e6))
            return Double(n) / span
        }

        mutating func markRemoved(_ e: Int) {
            engines[e].alive = false
            engines[e].draining = false
            engines[e].deathReason = "removed"
            emit(.engineDied(e, reason: "removed"))
        }

        // MARK: dependencies

        /// 1: met, 0: still waiting, -1: impossible.
        func evaluate(_ dep: Dependency) -> Int {
            var met = 0
            var failed = 0
            var open = 0
            for d in dep.ids {
                let st = records[d.rawValue - 1].status
                if !st.isFinished {
                    open += 1
                } else if (st == .ok && dep.success) || (st.isFailure && dep.failure) {
                    met += 1
                } else {
                    failed += 1
                }
            }
            if dep.all {
                if failed > 0 { return -1 }
                return open == 0 ? 1 : 0
            }
            if met > 0 || dep.ids.isEmpty { return 1 }
            return open == 0 ? -1 : 0
        }

        mutating func enqueueWithDependencies(_ idx: Int, fx: inout Effects, now: Timestamp) {
            let deps = [extras[idx]?.after, extras[idx]?.follow].compactMap { $0 }
            var verdict = 1
            for d in deps { verdict = min(verdict, evaluate(d)) }
            if verdict < 0 {
                failTask(idx, status: .error, error: impossibleMessage(idx), fx: &fx, now: now)
            } else if verdict == 0 {
                waiting.insert(idx)
                for d in deps { for id in d.ids where !records[id.rawValue - 1].status.isFinished { dependents[id.rawValue - 1, default: []].append(idx) } }
            } else if extras[idx]?.follow != nil {
                if followEngines(extras[idx]!.follow!).isEmpty {
                    failTask(idx, status: .error, error: "impossible dependency: the tasks it follows ran on different engines", fx: &fx, now: now)
                } else {
                    constrained.append(idx)
                }
            } else {
                ready.append(idx)
            }
        }

        func impossibleMessage(_ idx: Int) -> String {
            let deps = [extras[idx]?.after, extras[idx]?.follow].compactMap { $0 }.flatMap(\.ids)
            return "impossible dependency: tasks \(deps.map(\.description).joined(separator: ", ")) did not end as required"
        }

        mutating func resolveDependents(of dep: Int, fx: inout Effects, now: Timestamp) {
            guard let list = dependents.removeValue(forKey: dep) else { return }
            for idx in list where waiting.contains(idx) {
                let deps = [extras[idx]?.after, extras[idx]?.follow].compactMap { $0 }
                var verdict = 1
                for d in deps { verdict = min(verdict, evaluate(d)) }
                if verdict == 0 { continue }
                waiting.remove(idx)
                if verdict < 0 {
                    failTask(idx, status: .error, error: impossibleMessage(idx), fx: &fx, now: now)
                } else {
                    enqueueWithDependencies(idx, fx: &fx, now: now)
                }
            }
        }

        // MARK: reading

        func text(_ idx: Int) -> String { taskText(idx).text }

        /// What a task's text is made of: cheap to copy under the lock, rendered outside it.
        func taskText(_ idx: Int) -> TaskText {
            TaskText(work: works[idx], label: batches[Int(records[idx].batch) - 1].options.label, seq: Int(records[idx].seq))
        }

        func args(_ idx: Int) -> [String] {
            if case .shell(let t) = works[idx] { return t.args }
            if case .builtin(.sleepSquare(let x, _)) = works[idx] { return [String(x)] }
            return []
        }

        func metadata(_ idx: Int) -> TaskMetadata? {
            guard records.indices.contains(idx) else { return nil }
            let r = records[idx]
            let x = extras[idx]
            func ts(_ v: Int64) -> Timestamp? { v > 0 ? Timestamp(microseconds: v) : nil }
            let engine = r.engine >= 0 ? Int(r.engine) : nil
            return TaskMetadata(
                id: TaskID(idx + 1), batch: Int(r.batch), seq: Int(r.seq), engine: engine,
                engineHost: engine.map { engines[$0].info.host }, status: r.status,
                submitted: Timestamp(microseconds: r.submitted), started: ts(r.started), completed: ts(r.completed),
                received: ts(r.received), retries: Int(r.retries), stdout: x?.stdout ?? .empty, stderr: x?.stderr ?? .empty,
                error: x?.error, exitStatus: x?.exitStatus, signal: x?.signal, after: x?.after, follow: x?.follow,
                text: text(idx), args: args(idx), processGroup: r.processGroup > 0 ? r.processGroup : nil)
        }

        func key(_ idx: Int) -> TaskKey {
            let r = records[idx]
            return TaskKey(
                batch: r.batch, seq: r.seq, engine: r.engine, status: r.status, retries: r.retries, submitted: r.submitted,
                started: r.started, completed: r.completed)
        }

        func row(_ idx: Int) -> TaskRow { TaskRow(index: idx, key: key(idx), text: text(idx)) }
    }
}
