// A run-time limit decided while the task runs (GNU parallel's `--timeout N%`, a percentage of the median run time
// of the tasks done so far): the engine stops the task as it would at a fixed limit, and reports it timed out with
// the output it had.

extension Scheduler {
    /// Asks the engine running `task` to stop it for exceeding its run-time limit (SIGTERM to its process group, then
    /// SIGKILL); the engine reports it `timeout`, with its output. A task that is not running is left alone.
    public func timeOut(task: TaskID) {
        update { s, fx in
            let slot = TaskSlot(task)
            guard s.tasks.contains(slot), s.tasks[slot].status == .running, let e = s.tasks[slot].engine else { return }
            fx.cancels.append(Effects.Cancel(engine: s.engines[e].engine, task: task, reason: .runTimeLimit))
        }
    }
}
