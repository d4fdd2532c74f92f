/// Whether a task's dependencies let it run. Ordered: combining several takes the least.
enum DependencyVerdict: Int, Comparable, Sendable {
    /// It can never run: a dependency ended the wrong way (or, for `any`, all did).
    case impossible
    /// Some dependency has not finished yet.
    case waiting
    /// It may run.
    case met

    static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The verdict for `dep`, given each dependency's status.
    init(_ dep: Dependency, status: (TaskID) -> TaskStatus) {
        var met = 0
        var failed = 0
        var open = 0
        for d in dep.ids {
            let st = status(d)
            if !st.isFinished {
                open += 1
            } else if (st == .ok && dep.success) || (st.isFailure && dep.failure) {
                met += 1
            } else {
                failed += 1
            }
        }
        if dep.all {
            self = failed > 0 ? .impossible : (open == 0 ? .met : .waiting)
        } else if met > 0 || dep.ids.isEmpty {
            self = .met
        } else {
            self = open == 0 ? .impossible : .waiting
        }
    }

    /// The verdict for all of `deps` together (met when there are none).
    init(_ deps: [Dependency], status: (TaskID) -> TaskStatus) {
        self = deps.reduce(.met) { Swift.min($0, DependencyVerdict($1, status: status)) }
    }
}

/// Tasks waiting for their dependencies, and who waits on whom.
struct DependencyTracker {
    /// Tasks waiting for their dependencies.
    private(set) var waiting = Set<TaskSlot>()
    /// A dependency -> the tasks waiting on it.
    private var dependents = [TaskSlot: [TaskSlot]]()

    var count: Int { waiting.count }
    func isWaiting(_ slot: TaskSlot) -> Bool { waiting.contains(slot) }

    /// `slot` waits until each unfinished task of `deps` finishes.
    mutating func wait(_ slot: TaskSlot, on deps: [Dependency], status: (TaskID) -> TaskStatus) {
        waiting.insert(slot)
        for d in deps {
            for id in d.ids where !status(id).isFinished { dependents[TaskSlot(id), default: []].append(slot) }
        }
    }

    /// Stops waiting (the task was aborted or timed out).
    mutating func forget(_ slot: TaskSlot) { waiting.remove(slot) }

    /// The tasks that waited on `dep`, which just finished, to be judged again: only those still `isWaiting` when
    /// their turn comes (judging one may settle another).
    mutating func waiters(of dep: TaskSlot) -> [TaskSlot] {
        if dependents.isEmpty { return [] }
        return dependents.removeValue(forKey: dep) ?? []
    }
}

extension Scheduler.State {
    /// The verdict on all of a task's dependencies.
    func verdict(_ slot: TaskSlot) -> DependencyVerdict {
        DependencyVerdict(tasks.extras[slot]?.dependencies ?? [], status: tasks.status)
    }

    /// Engines where a follow dependency ran: where all of them ran, or where any did.
    func followEngines(_ dep: Dependency) -> Set<EngineID> {
        let sets = dep.ids.map { id -> Set<EngineID> in tasks[TaskSlot(id)].engine.map { [$0] } ?? [] }
        if dep.all { return sets.dropFirst().reduce(sets.first ?? []) { $0.intersection($1) } }
        return sets.reduce(into: Set<EngineID>()) { $0.formUnion($1) }
    }

    /// Queues a task with dependencies: ready, constrained (follow), waiting, or failed if they cannot be met.
    mutating func enqueueWithDependencies(_ slot: TaskSlot, fx: inout Effects, now: Timestamp) {
        switch verdict(slot) {
        case .impossible:
            failTask(slot, status: .error, error: impossibleMessage(slot), fx: &fx, now: now)
        case .waiting:
            dependencies.wait(slot, on: tasks.extras[slot]?.dependencies ?? [], status: tasks.status)
        case .met:
            if let follow = tasks.extras[slot]?.follow {
                if followEngines(follow).isEmpty {
                    failTask(slot, status: .error, error: "impossible dependency: the tasks it follows ran on different engines", fx: &fx, now: now)
                } else {
                    queues.constrain(slot)
                }
            } else {
                queues.append(slot)
            }
        }
    }

    func impossibleMessage(_ slot: TaskSlot) -> String {
        let ids = (tasks.extras[slot]?.dependencies ?? []).flatMap(\.ids)
        return "impossible dependency: tasks \(ids.map(\.description).joined(separator: ", ")) did not end as required"
    }

    /// `dep` finished: judges again the tasks that waited on it.
    mutating func resolveDependents(of dep: TaskSlot, fx: inout Effects, now: Timestamp) {
        for slot in dependencies.waiters(of: dep) where dependencies.isWaiting(slot) {
            let v = verdict(slot)
            if v == .waiting { continue }
            dependencies.forget(slot)
            if v == .impossible {
                failTask(slot, status: .error, error: impossibleMessage(slot), fx: &fx, now: now)
            } else {
                enqueueWithDependencies(slot, fx: &fx, now: now)
            }
        }
    }
}
