// What a journal line needs of a task, for many tasks under one hold of the scheduler's lock.

/// The plain facts of one task: what its `submitted` line and (for a task with no output, error or exit status) its
/// `completed` line say. Copied under the scheduler's lock without rendering anything (no text, no output): a
/// journal looks up a whole delivery round of tasks at once, where `metadata` (the whole record, with its output)
/// costs a lock and a rendering per task.
public struct TaskFacts: Sendable {
    public let id: TaskID
    public let batch: BatchID
    public let seq: Int
    public let status: TaskStatus
    public let engine: EngineID?
    public let submitted: Timestamp
    public let started: Timestamp?
    public let completed: Timestamp?
    public let retries: Int
    public let processGroup: Int32?
    /// The task has an output, an error, an exit status or a signal, resources or dependencies kept: its record
    /// (`metadata`) says more than these facts.
    public let hasExtras: Bool
    /// The arguments it was given (shell sweeps).
    public let args: [String]
    let taskText: TaskText

    /// The command, or a description of the call (rendered here, off the scheduler's lock).
    public var text: String { taskText.text }
    /// Whether the text is the same for every task of its batch (a no-op's), so consecutive tasks may share a line.
    public var textIsShared: Bool {
        if case .builtin(.noop) = taskText.work { return true }
        return false
    }
}

extension Scheduler {
    /// The facts of each task in `tasks` (nil for an unknown id), in order, taking the lock once per 256 tasks (so
    /// engines never wait long behind a big round).
    public func facts(_ tasks: [TaskID]) -> [TaskFacts?] {
        var out = [TaskFacts?]()
        out.reserveCapacity(tasks.count)
        var i = 0
        while i < tasks.count {
            let end = min(tasks.count, i + 256)
            state.withLock { s in
                for k in i..<end { out.append(s.facts(TaskSlot(tasks[k]))) }
            }
            i = end
        }
        return out
    }
}

extension Scheduler {
    /// The process group of `task` while it runs, nil when it is not running (or unknown): one short hold of the lock,
    /// nothing copied (a journal's check, on an engine's thread, that a start is still news).
    public func runningProcessGroup(_ task: TaskID) -> Int32? {
        state.withLock { s in
            let slot = TaskSlot(task)
            guard s.tasks.contains(slot), s.tasks[slot].status == .running else { return nil }
            return s.tasks[slot].processGroup
        }
    }
}

extension Scheduler.State {
    func facts(_ slot: TaskSlot) -> TaskFacts? {
        guard tasks.contains(slot) else { return nil }
        let r = tasks[slot]
        return TaskFacts(
            id: slot.id, batch: Int(r.batch), seq: Int(r.seq), status: r.status, engine: r.engine,
            submitted: Timestamp(microseconds: r.submitted), started: r.started, completed: r.completed,
            retries: Int(r.retries), processGroup: r.processGroup, hasExtras: tasks.hasExtra(slot),
            args: args(slot), taskText: taskText(slot))
    }
}

extension FlatTaskRecord {
    /// The record of a task with no extras (`TaskFacts.hasExtras` false: no output, error, exit status): what
    /// `init(_: TaskMetadata)` gives for it, from its facts; `host` is its engine's.
    public init(_ f: TaskFacts, host: String?) {
        self.init(
            TaskMetadata(
                id: f.id, batch: f.batch, seq: f.seq, engine: f.engine, engineHost: host, status: f.status,
                submitted: f.submitted, started: f.started, completed: f.completed, received: nil, retries: f.retries,
                stdout: .empty, stderr: .empty, error: nil, exitStatus: nil, signal: nil, after: nil, follow: nil,
                text: f.text, args: f.args, processGroup: f.processGroup))
    }
}
