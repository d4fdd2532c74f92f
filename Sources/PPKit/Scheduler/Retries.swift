extension Scheduler.State {
    // Retries: a failed task put back (automatically, on another engine), a user's retry of a finished task, and the
    // blacklist of engines a task failed on that both leave behind.

    /// Whether a task that just failed on its engine is tried again rather than finished.
    func retriesLeft(_ slot: TaskSlot) -> Bool {
        Int(tasks[slot].retries) < tasks[batchOf: slot].options.retries
    }

    /// Puts a failed task back, preferring engines that have not failed it.
    mutating func retryElsewhere(_ slot: TaskSlot, failedOn engine: EngineID) {
        let was = tasks[slot].status
        tasks[slot].countRetry()
        tasks[slot].engine = nil
        tasks[slot].started = nil
        tasks[slot].status = .pending
        noteChange(slot)
        if was != .pending {
            totals.move(from: was, to: .pending)
            tasks[batchOf: slot].counts.move(from: was, to: .pending)
        }
        tasks.extras[slot, default: TaskExtra()].failedOn.append(engine)
        if let target = pinnedTarget(slot) {
            // A direct view's task is retried on its own target.
            queues.pinFirst(slot, to: target)
        } else {
            queues.constrainFirst(slot)
        }
        generation &+= 1
    }

    /// The engine a direct view pinned this task to, if any.
    func pinnedTarget(_ slot: TaskSlot) -> EngineID? {
        guard let targets = tasks[batchOf: slot].options.targets, !targets.isEmpty else { return nil }
        return targets[(Int(tasks[slot].seq) - 1) % targets.count]
    }

    /// A user's retry of a finished task: back through its targets and dependencies.
    mutating func resubmit(_ slot: TaskSlot, fx: inout Effects) {
        let was = tasks[slot].status
        let b = tasks[slot].batchSlot
        if let run = tasks[slot].runMicros { tasks[b].serialMicros -= run }
        tasks[slot].countRetry()
        tasks[slot].status = .pending
        tasks[slot].started = nil
        tasks[slot].completed = nil
        tasks[slot].received = nil
        let failedEngine = tasks[slot].engine
        tasks[slot].engine = nil
        tasks.results[slot.index] = nil
        totals.move(from: was, to: .pending)
        tasks[b].counts.move(from: was, to: .pending)
        if let pos = tasks[b].completionOrder.lastIndex(of: Int32(slot.index)) { tasks[b].completionOrder.remove(at: pos) }
        if !tasks.plainEnds.isEmpty { tasks.plainEnds[slot] = nil }
        tasks.extras[slot]?.error = nil
        tasks.extras[slot]?.exitStatus = nil
        tasks.extras[slot]?.signal = nil
        tasks.extras[slot]?.stdout = .empty
        tasks.extras[slot]?.stderr = .empty
        if let failedEngine, was != .aborted { tasks.extras[slot, default: TaskExtra()].failedOn.append(failedEngine) }
        noteChange(slot)
        generation &+= 1
        if let target = pinnedTarget(slot) {
            if aliveIDs.contains(target) {
                queues.pin(slot, to: target)
            } else {
                failTask(slot, status: .error, error: "engine \(target), its direct-view target, is gone", fx: &fx, now: clock.now())
            }
        } else if tasks.extras[slot]?.after != nil || tasks.extras[slot]?.follow != nil {
            enqueueWithDependencies(slot, fx: &fx, now: clock.now())
        } else if tasks.extras[slot]?.failedOn.isEmpty == false {
            queues.constrain(slot)
        } else {
            queues.append(slot)
        }
    }

    /// Engines among `free` that may take `slot` now; empty if it must wait; nil if no alive engine ever could.
    /// A task's blacklist (engines it failed on) is kept unless no other engine that could take it is alive.
    mutating func eligible(_ slot: TaskSlot, among free: [Int]) -> [Int]? {
        var possible = aliveIDs
        if !tasks.work(slot).isPortable { possible = possible.filter { engines[$0].runsClosures } }
        if let follow = tasks.extras[slot]?.follow, !follow.isEmpty {
            let allowed = followEngines(follow)
            possible = possible.filter { allowed.contains($0) }
        }
        if possible.isEmpty { return nil }
        let cands = free.filter { possible.contains($0) }
        if let failed = tasks.extras[slot]?.failedOn, !failed.isEmpty {
            let fresh = cands.filter { !failed.contains($0) }
            if !fresh.isEmpty { return fresh }
            return possible.contains { !failed.contains($0) } ? [] : cands
        }
        return cands
    }
}
