// `--timeout` as GNU parallel takes it: seconds (with time units, `1m30s`), or `N%` of the median run time of the
// tasks that succeeded so far (`PercentTimeout` stops the running tasks past it).
import ArgumentParser
import Foundation
import PPKit
import PPSystem
import Synchronization

/// `--timeout SECONDS|N%`.
struct TimeoutOption: ExpressibleByArgument, Sendable {
    var limit: GNUTimeout
    var text: String

    init(_ seconds: Seconds) {
        limit = .seconds(seconds.value)
        text = seconds.text
    }

    init?(argument: String) {
        guard let l = GNUTimeout(argument) else { return nil }
        limit = l
        text = argument
    }

    /// The fixed limit in seconds; nil for a percentage (decided while the batch runs).
    var value: Double? {
        if case .seconds(let s) = limit { return s }
        return nil
    }

    /// The percentage of the median, for `N%`.
    var percent: Double? {
        if case .percent(let p) = limit { return p }
        return nil
    }

    /// Parses, or says in one line what is wrong.
    static func parse(_ text: String) throws -> TimeoutOption {
        guard let t = TimeoutOption(argument: text) else {
            throw ValidationError("--timeout \(text): give seconds (2.5, or with units: 1m30s, 1h; s m h d), or N% of the median run time")
        }
        return t
    }

    func check() throws {
        switch limit {
        case .seconds(let s):
            var seconds = Seconds(s)
            seconds.text = text
            try seconds.check("--timeout")
        case .percent(let p):
            guard p > 0, p.isFinite, p <= 1e9 else {
                throw ValidationError("--timeout \(text): give a percentage above 0% of the median run time (GNU parallel: above 100% makes sense)")
            }
        }
    }
}

/// `--timeout N%`, as GNU parallel does it: once a task has succeeded, a running task is stopped (SIGTERM, then
/// SIGKILL; reported `timeout`) when it has run longer than N% of the median run time of the successful tasks
/// (`GNURemedian`). Before the first success nothing is stopped. Fed by the scheduler's events; a thread of its
/// own checks the running tasks against the limit.
final class PercentTimeout: Sendable {
    let scheduler: Scheduler
    let percent: Double
    private struct State {
        var median = GNURemedian()
        /// Running tasks by start (seconds since the epoch), not yet asked to stop.
        var running: [TaskID: Double] = [:]
        var stopped = false
    }
    /// Guarded by this Mutex.
    private let state = Mutex(State())
    /// Counts the tasks it stopped (for tests and the note on stderr).
    let stoppedTasks = Atomic<Int>(0)

    init(scheduler: Scheduler, percent: Double) {
        self.scheduler = scheduler
        self.percent = percent
    }

    /// Feeds one scheduler event (call from the observer).
    func observe(_ event: SchedulerEvent) {
        switch event {
        case .started(let task, _, let at, _):
            state.withLock { $0.running[task] = at.seconds }
        case .completed(let task, _, _):
            let m = scheduler.metadata(task)
            state.withLock { s in
                s.running[task] = nil
                if let m, GNURemedian.counts(m), let d = m.duration { s.median.add(d) }
            }
        default:
            break
        }
    }

    /// Starts the checking thread: it wakes at the earliest deadline (at most every 0.1 s) until `stop`.
    func start() {
        Thread.detachNewThread { [self] in
            while true {
                let now = SystemClock().now().seconds
                let (due, wait): ([TaskID], Double) = state.withLock { s in
                    if s.stopped { return ([], -1) }
                    guard let limit = s.median.limit(percent: percent) else { return ([], 0.1) }
                    var due = [TaskID]()
                    var next = 0.1
                    for (task, start) in s.running {
                        let left = start + limit - now
                        if left < 0 { due.append(task) } else { next = min(next, left) }
                    }
                    for t in due { s.running[t] = nil }
                    return (due, next)
                }
                if wait < 0 { return }
                for t in due {
                    scheduler.timeOut(task: t)
                    stoppedTasks.add(1, ordering: .relaxed)
                }
                usleep(UInt32(max(0.002, wait) * 1_000_000))
            }
        }
    }

    func stop() { state.withLock { $0.stopped = true } }
}
