// Every kill and grace timing in one place, each saying what it waits for and how it relates to the others.
import Glibc

/// The waits between asking a process to stop and making it stop, and the related polls.
public enum Timings {
    /// A task's process group between SIGTERM and SIGKILL (a run-time limit, an abort, a worker leaving, `ppdash
    /// kill`): time for a shell script to clean up.
    public static let taskGrace: Double = 2
    /// A worker leaving without grace waits this long for its running task's runner to SIGTERM, wait
    /// `taskGrace` and SIGKILL; past it the worker SIGKILLs the group itself.
    public static let workerTaskStop: Double = taskGrace * 2
    /// The scheduler, having said bye to a worker without grace, waits this long for it to stop its task
    /// (`workerTaskStop`) and leave; past it the worker process is SIGKILLed.
    public static let workerLeave: Double = workerTaskStop + 1
    /// A worker's link closed: how long its death report waits for the process to be reaped (for its exit status
    /// and last stderr line) before it goes out without them.
    public static let workerReap: Double = 2
    /// The scheduler's `shutdown()` waits this long for engines to stop their running shell tasks (remote ones take
    /// up to `workerLeave`).
    public static let shutdownWait: Double = workerLeave
    /// After a SIGKILL to process groups found by number, before checking whether they are gone.
    public static let afterKill: Double = 0.05
    /// A dead worker's task processes, SIGKILLed: how long the scheduler waits to see them gone before it retries
    /// the task elsewhere (they are SIGKILLed, so only a process stuck in the kernel takes this long).
    public static let orphansGone: Double = 2
    /// Between checks whether signalled process groups are gone.
    public static let groupPoll: Double = 0.02
    /// The benchmark's dashboard on a pty: after its SIGTERM, how long it may take to restore the terminal.
    public static let dashboardExit: Double = 5
    /// How long one of a worker's attempts to connect to a scheduler may take.
    public static let connectAttempt: Double = 5
    /// Between a worker's attempts to connect to a scheduler that refused (it may not be listening yet).
    public static let connectRetry: Double = 0.2
    /// Bytes read per pipe after the child exited (an orphan may keep writing).
    public static let drainAfterExit = 1 << 20

    /// `seconds` in nanoseconds (finite, non-negative; capped near 30 years); nil for an infinite value.
    public static func nanoseconds(_ seconds: Double) -> Int64? {
        guard seconds.isFinite, seconds >= 0 else { return seconds.isFinite ? 0 : nil }
        return Int64(min(seconds, 1e9) * 1e9)
    }

    /// Sleeps the calling thread for `seconds` (EINTR resumed).
    public static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        let seconds = min(seconds, 1e9)  // as `nanoseconds`: an infinite or huge wait is about 30 years, not a trap
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rem = timespec()
        while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
    }
}
