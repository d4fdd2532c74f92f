// GNU parallel's job control over a batch fed as it goes: --resume/--resume-failed leave out the Seqs the joblog
// has, --delay spaces the starts; the input may be read as it comes (stdin, files) or a list (a sweep's tasks,
// --shuf's shuffled rows). Each task keeps its own Seq: `{#}`, the joblog's Seq.
import ArgumentParser
import Foundation
import Glibc
import PPKit
import PPSystem

/// Feeds a streamed batch with tasks that keep their own Seq.
struct GNUFeed: Sendable {
    /// Seqs not run (`--resume`: all the joblog has; `--resume-failed`: those that succeeded).
    let skip: Set<Int>
    /// `--delay`: no two tasks start closer together than this (seconds).
    let delay: Double?
    /// Told each task's Seq before the task is in the batch (the joblog's Seq, --results' seq file).
    let gnu: GNURun

    /// One feeding's state, on the feeding thread alone (not Sendable: never shared).
    final class Feeder {
        let stream: ShellStream
        let options: GNUFeed
        private var pending: [ShellTask] = []
        private(set) var stopped = false
        private var previousStart: Double?

        init(_ stream: ShellStream, _ options: GNUFeed) {
            self.stream = stream
            self.options = options
        }

        /// Takes the next task of the input (in Seq order): left out when its Seq is skipped; `stopped` once the
        /// batch takes no more.
        func take(_ task: ShellTask) {
            guard !stopped, !options.skip.contains(task.seq) else { return }
            guard let delay = options.delay else {
                pending.append(task)
                if pending.count >= 256 { flush() }
                return
            }
            // --delay: one at a time, each once the one before has started and `delay` has passed since.
            if let previous = previousStart {
                let wait = previous + delay - SystemClock().now().seconds
                if wait > 0 { usleep(UInt32(min(3600, wait) * 1_000_000)) }
            }
            pending = [task]
            flush()
            // Started when it leaves the queue: the wait is woken by the scheduler's started/completed events (the
            // time seen is the event's delivery, a little late at worst: the gap only grows), never a poll.
            if !stopped && !stream.waitForRoom(below: 1) { stopped = true }
            previousStart = SystemClock().now().seconds
        }

        /// What was taken goes to the batch (waiting while `InputFeed.readAhead` tasks wait to start).
        func flush() {
            guard !pending.isEmpty, !stopped else { return }
            // Blocked (woken as the scheduler starts or ends tasks), not polling.
            if !stream.waitForRoom(below: InputFeed.readAhead) {
                stopped = true
                return
            }
            options.gnu.appendSeqs(pending.map(\.seq))
            if !stream.append(shellTasks: pending) { stopped = true }
            pending.removeAll(keepingCapacity: true)
        }

        /// The input ended (or the batch stopped taking tasks): the batch is closed.
        func finish() {
            flush()
            stream.close(inputEnded: !stopped)
        }
    }

    /// Feeds the tasks of a list.
    func feed(_ stream: ShellStream, tasks: [ShellTask]) {
        let f = Feeder(stream, self)
        for t in tasks where !f.stopped { f.take(t) }
        f.finish()
    }
}

extension InputFeed {
    /// Feeds the rows as they are read, numbered from 1, through GNU parallel's job control (`GNUFeed`); what was
    /// read goes to the batch before a read that may block.
    func feed(_ stream: ShellStream, gnu: GNUFeed) {
        rows.withLock { rows in
            let f = GNUFeed.Feeder(stream, gnu)
            rows.beforeRead { f.flush() }
            var seq = 0
            while !f.stopped, let args = rows.next() {
                seq += 1
                f.take(ShellTask(template: template, args: args, seq: seq))
            }
            rows.beforeRead {}
            f.finish()
        }
    }
}

/// `--shuf` over input read as it comes: all of it is read first (as GNU parallel does), within these bounds.
extension InputFeed {
    static let wholeMaxBytes = 256 << 20
    /// 1,000,000 tasks; test hook: `PPDASH_TEST_SHUF_MAX` (only the tests set it) lowers it, so the refusal is
    /// tested without a million lines.
    static var wholeMaxTasks: Int {
        SystemFacts.environment("PPDASH_TEST_SHUF_MAX").flatMap { Int($0) }.map { min(max($0, 1), 1_000_000) } ?? 1_000_000
    }

    /// Reads every row now (kept as `wholeInput`), or refuses in one line past the bounds.
    func readWhole() throws {
        let maxTasks = Self.wholeMaxTasks
        var rows = [[String]]()
        var bytes = 0
        var over = false
        forEachRow { args in
            for a in args { bytes += a.utf8.count + 1 }
            rows.append(args)
            over = rows.count > maxTasks || bytes > Self.wholeMaxBytes
            return !over
        }
        if over {
            throw ValidationError(
                "--shuf reads all the input before the first task: this input has more than \(thousands(maxTasks)) tasks or \(Self.wholeMaxBytes >> 20) MiB of arguments (shuffle it first, e.g. with shuf, and leave out --shuf)")
        }
        keepWhole(rows)
    }
}
