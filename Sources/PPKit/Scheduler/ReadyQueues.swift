import DequeModule

/// Tasks ready to run, by where they may go. Entries are skipped lazily: a task aborted or assigned since it was
/// queued stays in its queue until dispatch meets it (see `Scheduler.State.isDispatchable`).
struct ReadyQueues {
    /// Any engine may take these, first in, first out.
    private(set) var fifo = Deque<TaskSlot>()
    /// Only some engines may take these (follow dependencies, retry blacklists, closures needing this process).
    var constrained = [TaskSlot]()
    /// Per engine: tasks a direct view pinned to it, waiting for its capacity.
    private(set) var pinned = [Deque<TaskSlot>]()
    /// Tasks pinned in all (dispatch walks the engines for pinned work only when some is).
    private(set) var pinnedCount = 0

    var isEmpty: Bool { fifo.isEmpty && constrained.isEmpty }

    mutating func append(_ slot: TaskSlot) { fifo.append(slot) }
    @inline(__always) mutating func popFirst() -> TaskSlot? { fifo.popFirst() }

    mutating func constrain(_ slot: TaskSlot) { constrained.append(slot) }
    /// A retried task goes before the others.
    mutating func constrainFirst(_ slot: TaskSlot) { constrained.insert(slot, at: 0) }

    /// Makes room for a new engine's pinned queue.
    mutating func addEngine() { pinned.append([]) }
    mutating func pin(_ slot: TaskSlot, to e: EngineID) {
        pinned[e].append(slot)
        pinnedCount += 1
    }
    /// A retried task goes before the others pinned there.
    mutating func pinFirst(_ slot: TaskSlot, to e: EngineID) {
        pinned[e].prepend(slot)
        pinnedCount += 1
    }
    @inline(__always) mutating func popPinned(_ e: EngineID) -> TaskSlot? {
        guard let slot = pinned[e].popFirst() else { return nil }
        pinnedCount -= 1
        return slot
    }
    @inline(__always) func hasPinned(_ e: EngineID) -> Bool { !pinned[e].isEmpty }
    /// Everything pinned to `e`, taken off it (the engine is gone).
    mutating func unpinAll(_ e: EngineID) -> [TaskSlot] {
        defer {
            pinnedCount -= pinned[e].count
            pinned[e] = []
        }
        return Array(pinned[e])
    }
}
