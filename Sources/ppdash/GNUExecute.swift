// How `run` applies GNU parallel's job-control options around a batch: --dry-run, --resume/--resume-failed and
// --shuf (which tasks, in which order), --delay (tasks fed one at a time), --memfree/--load (dispatch held),
// --nice.
import ArgumentParser
import Foundation
import Glibc
import PPKit
import PPSystem
import Synchronization

extension RunOptions {
    /// `--dry-run`: the commands, one a line (as GNU parallel prints them), nothing run, exit 0. With --resume,
    /// --resume-failed or --shuf, the tasks a run would run, in its order.
    func dryRun(_ work: BatchWork) throws {
        var ok = true
        // The command's bytes (ByteText: an argument's byte that is not UTF-8 is printed as it was).
        func write(_ s: String) { if ok { ok = ByteText.bytes(of: s + "\n").withUnsafeBytes { writeAll(1, $0) } } }
        // --tag and --tagstring before each command, as GNU parallel prints them.
        let tagText = output.tagText
        func say(_ t: ShellTask) { write((tagText?(t.args, t.seq) ?? "") + t.displayCommand) }
        switch work {
        case .sweep(let sweep, _):
            let count = try sweep.checkedCountForRun()
            if listsTasks {
                for t in try tasks(of: sweep, count: count).tasks where ok { say(t) }
            } else {
                // Made one at a time: a dry run of a huge range prints as long as its reader reads.
                var i = 0
                while i < count && ok {
                    say(ShellTask(template: sweep.template, args: sweep.arguments(at: i), seq: i + 1))
                    i += 1
                }
            }
        case .stream(_, _, let feed):
            if let rows = feed.wholeInput {
                for t in try tasks(count: rows.count, template: feed.template, arguments: { rows[$0] }).tasks where ok {
                    say(t)
                }
            } else {
                let skip = try resumeSkips()
                var seq = 0
                feed.forEachRow { args in
                    seq += 1
                    if !skip.contains(seq) { say(ShellTask(template: feed.template, args: args, seq: seq)) }
                    return ok
                }
            }
        case .resume(let input):
            var i = 0
            while i < input.count && ok {  // the tail made one at a time, as it is printed
                say(input.task(i))
                i += 1
            }
        }
    }

    /// The tasks of `sweep` as `--resume`, `--resume-failed` and `--shuf` want them (see `tasks(count:...)`).
    func tasks(of sweep: Sweep, count: Int) throws -> (tasks: [ShellTask], seqs: [Int]?) {
        try tasks(count: count, template: sweep.template, arguments: sweep.arguments(at:))
    }

    /// The tasks of `count` rows (`arguments(i)`, 0-based) as `--resume`, `--resume-failed` and `--shuf` want
    /// them, with their Seqs: the Seqs the joblog has left out, the rest shuffled and numbered in the new order
    /// with --shuf. `seqs` nil when each task's Seq is its position.
    func tasks(count: Int, template: Template, arguments: (Int) -> [String]) throws -> (tasks: [ShellTask], seqs: [Int]?) {
        let skip = try resumeSkips()
        guard count <= ViewFlags.maxBatchTasks else {
            throw ValidationError(
                "the arguments make \(thousands(count)) tasks; --resume, --shuf and --dry-run take at most \(thousands(ViewFlags.maxBatchTasks))")
        }
        var order = Array(0..<count).filter { !skip.contains($0 + 1) }
        if output.shuf { order.shuffle() }
        // --shuf numbers the tasks in their new order ({#} and the joblog's Seq), as GNU parallel does.
        let tasks = order.enumerated().map { pos, i in
            ShellTask(template: template, args: arguments(i), seq: output.shuf ? pos + 1 : i + 1)
        }
        return (tasks, output.shuf || !skip.isEmpty ? tasks.map(\.seq) : nil)
    }

    /// The Seqs `--resume` (all the joblog has) or `--resume-failed` (those that succeeded) leaves out; none
    /// without them, or when the joblog does not exist yet.
    func resumeSkips() throws -> Set<Int> {
        guard let joblog = output.joblog, output.resume || output.resumeFailed else { return [] }
        return try joblogSkips(path: joblog, failedToo: output.resumeFailed)
    }

    /// True when the sweep's tasks must be listed before they are submitted.
    var listsTasks: Bool { output.shuf || ((output.resume || output.resumeFailed) && output.joblog != nil) }

    /// `--nice N`: this process and so every task it starts here runs at niceness N.
    func applyNice() {
        guard let nice = output.nice else { return }
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(nice)) != 0 {
            note("ppdash: --nice \(nice): \(SystemFacts.errorText(errno)) (a lower niceness needs privileges): tasks run at the current niceness")
        }
    }
}

extension Sweep {
    /// The task count, as a usage error when it is too large to count.
    func checkedCountForRun() throws -> Int {
        do { return try checkedCount() } catch { throw ValidationError(error.message) }
    }
}

/// `--memfree SIZE` and `--load MAX`: dispatch is held (running tasks go on) while the host has less memory
/// available or a higher load; checked every `interval` seconds on a thread of its own.
final class DispatchHold: Sendable {
    let scheduler: Scheduler
    let memfree: Int64?
    let load: Double?
    let interval: Double
    /// Dispatch is held by this (not by the dashboard's pause key). Guarded by this Mutex.
    private let holding = Mutex<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let readMemory: @Sendable () -> Int64?
    private let readLoad: @Sendable () -> Double?

    init(
        scheduler: Scheduler, memfree: Int64?, load: Double?, interval: Double = 0.25,
        readMemory: @escaping @Sendable () -> Int64? = { DispatchHold.memoryAvailable() },
        readLoad: @escaping @Sendable () -> Double? = { DispatchHold.loadAverage() }
    ) {
        self.scheduler = scheduler
        self.memfree = memfree
        self.load = load
        self.interval = interval
        self.readMemory = readMemory
        self.readLoad = readLoad
    }

    /// Test hook: `PPDASH_TEST_MEMINFO` and `PPDASH_TEST_LOADAVG` name files read instead of /proc/meminfo and
    /// /proc/loadavg (only the tests set them: a FIFO there lets a test say "short", then "not short", and know
    /// each time ppdash has looked). Unset, the host's own.
    static func memoryAvailable() -> Int64? {
        guard let path = SystemFacts.environment("PPDASH_TEST_MEMINFO") else { return SystemFacts.memoryAvailable() }
        return SystemFacts.contents(of: path).flatMap { SystemFacts.parseMemAvailable(String(decoding: $0, as: UTF8.self)) }
    }

    /// The 1-minute load average (see `memoryAvailable` for the test hook `PPDASH_TEST_LOADAVG`).
    static func loadAverage() -> Double? {
        guard let path = SystemFacts.environment("PPDASH_TEST_LOADAVG") else { return SystemFacts.loadAverage() }
        return SystemFacts.contents(of: path).flatMap { SystemFacts.parseLoadAverage(String(decoding: $0, as: UTF8.self)) }
    }

    /// Why dispatch must wait now, nil if it need not.
    func reason() -> String? {
        if let memfree, let free = readMemory(), free < memfree {
            return "\(free / 1_048_576) MiB available < --memfree \(memfree / 1_048_576) MiB"
        }
        if let load, let l = readLoad(), l > load { return String(format: "load %.2f > --load %.2f", l, load) }
        return nil
    }

    /// Checks once: holds or releases dispatch; true when holding.
    @discardableResult
    func check() -> Bool {
        let why = reason()
        return holding.withLock { h in
            if let why, !h {
                h = true
                scheduler.isPaused = true
                engineLog.write("ppdash: holding new tasks: \(why)")
            } else if why == nil && h {
                h = false
                scheduler.isPaused = false
            }
            return h
        }
    }

    /// Checks before the batch starts and then every `interval` until `stop`.
    func start() {
        check()
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .relaxed) {
                usleep(UInt32(interval * 1_000_000))
                if !stopped.load(ordering: .relaxed) { check() }
            }
        }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}
