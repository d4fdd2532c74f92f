// Which tasks a resume runs again, and which tasks of the dead run may still be running (orphans).
import PPKit

/// What `ppdash resume` will do with a journal.
public struct ResumePlan: Sendable {
    /// Which tasks to run again.
    public enum Selection: Sendable, Hashable {
        /// Every task that did not complete ok.
        case all
        /// Only tasks that completed with a failure (error, timeout, aborted).
        case failedOnly
        /// Only tasks that never completed (pending or running when ppdash died).
        case unfinishedOnly
    }

    /// A task of the dead run whose process group is still alive here.
    public struct Orphan: Sendable, Hashable {
        public var task: JournalTask
        public var processGroup: Int32
    }

    /// The tasks to run again, in submission order, each with the shell task that runs it (tasks with a row in the
    /// journal's table; the never-submitted ones are `tail`).
    public var rerun: [(task: JournalTask, work: ShellTask)]
    /// The first run's tasks whose `submitted` line never reached the disk, run again after `rerun` (pending: the
    /// selection `.all` and `.unfinishedOnly` take them). Never made into a list: a range of millions costs nothing.
    public var tail: PlannedTail? = nil
    /// How many tasks run again.
    public var count: Int { rerun.count + (tail?.count ?? 0) }
    /// Unfinished tasks still running here: stop them (`--kill-orphans`) or wait, never run them twice.
    public var orphans: [Orphan]
    /// Unfinished tasks last seen running on another host: they may still run there.
    public var elsewhere: [JournalTask]
    /// Tasks that would be run again but are not shell commands (closures, the demo's built-ins).
    public var notRebuildable: [JournalTask]
    /// Tasks that completed ok (left alone).
    public var alreadyOK: Int
    /// Failed or unfinished tasks the selection leaves out.
    public var leftOut: Int

    /// Plans a resume of `journal` from `host`; `groupAlive` says whether a task's process group (started then)
    /// still lives (injectable for tests).
    public static func make(
        _ journal: JournalContents, selection: Selection = .all, host: String = SystemFacts.hostName,
        groupAlive: (Int32, Timestamp?) -> Bool = { SystemFacts.processGroupAlive($0, startedAt: $1) }
    ) -> ResumePlan {
        var plan = ResumePlan(rerun: [], orphans: [], elsewhere: [], notRebuildable: [], alreadyOK: 0, leftOut: 0)
        let table = journal.table
        for i in 0..<table.rowCount {
            // Tasks that completed ok are counted from their rows: only the others are read back whole.
            if table.status(i) == .ok {
                plan.alreadyOK += 1
                continue
            }
            let t = table.task(i)
            let unfinished = !t.status.isFinished
            let wanted: Bool
            switch selection {
            case .all: wanted = true
            case .failedOnly: wanted = !unfinished
            case .unfinishedOnly: wanted = unfinished
            }
            if unfinished && t.status == .running {
                if let h = t.host, h != host, h != "?" {
                    plan.elsewhere.append(t)
                } else if let g = t.processGroup, g > 1, groupAlive(g, t.started) {
                    plan.orphans.append(Orphan(task: t, processGroup: g))
                }
            }
            guard wanted else {
                plan.leftOut += 1
                continue
            }
            if let work = rebuild(t) {
                plan.rerun.append((t, work))
            } else {
                plan.notRebuildable.append(t)
            }
        }
        if let tail = table.tail {
            if selection == .failedOnly { plan.leftOut += tail.count } else { plan.tail = tail }
        }
        return plan
    }

    /// The shell task that runs `t` again: its batch's template with its arguments and `{#}`, when that gives back the
    /// command the journal recorded.
    public static func rebuild(_ t: JournalTask) -> ShellTask? {
        guard !t.label.isEmpty, let template = try? Template(t.label) else { return nil }
        let work = ShellTask(template: template, args: t.args, seq: t.seq)
        return work.matches(recorded: t.command) ? work : nil
    }
}
