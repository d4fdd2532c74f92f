import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSystem
import Synchronization

/// run's options for how task output is printed as it comes.
struct OutputOptions: ParsableArguments {
    @Flag(
        name: .customLong("line-buffer"),
        help: "Print each whole line of a task's output as it comes (lines of different tasks are never mixed).")
    var lineBuffer = false

    func validate(json: Bool, keepOrder: Bool) throws {
        if lineBuffer && json { throw ValidationError("--line-buffer prints plain lines: leave out --json") }
        if lineBuffer && keepOrder { throw ValidationError("--line-buffer prints lines as they come: leave out --keep-order") }
    }
}

/// `--line-buffer`: each task's whole lines are printed as they arrive; a line never mixes with another task's.
final class LineBuffer: Sendable {
    /// Per task, the unfinished last line of stdout and of stderr. Guarded by this Mutex.
    private let partial = Mutex<[TaskID: (out: [UInt8], err: [UInt8])]>([:])
    /// A line longer than this is printed in pieces (memory stays bounded).
    static let longestLine = 1 << 20
    /// stdout's reader is gone (EPIPE on a line written here): the printer stops the run as a filter would.
    let stdoutClosed = Atomic<Bool>(false)

    /// A tap for the view's flags: every chunk of every task on an engine in this process.
    var tap: OutputTap { OutputTap { [self] task, stream, bytes in chunk(task, stream: stream, bytes) } }

    func chunk(_ task: TaskID, stream: Int, _ bytes: UnsafeRawBufferPointer) {
        let ready: [UInt8] = partial.withLock { p in
            var entry = p[task] ?? ([], [])
            defer { p[task] = entry }
            var held = stream == 0 ? entry.out : entry.err
            held.append(contentsOf: bytes)
            var out = [UInt8]()
            if let nl = held.lastIndex(of: UInt8(ascii: "\n")) {
                out = Array(held[...nl])
                held.removeSubrange(...nl)
            } else if held.count > Self.longestLine {
                out = held
                held = []
            }
            if stream == 0 { entry.out = held } else { entry.err = held }
            return out
        }
        if !ready.isEmpty {
            let fd: Int32 = stream == 0 ? 1 : 2
            let ok = statusLine.write(fd) { (ready.withUnsafeBytes { writeAll(fd, $0) }, ready.last) }
            if !ok && fd == 1 { stdoutClosed.store(true, ordering: .relaxed) }
        }
    }

    /// Prints the task's unfinished last lines; false if no output of the task came through here (a worker
    /// process's task: its output is printed whole at completion).
    func finish(_ task: TaskID) -> Bool {
        guard let rest = partial.withLock({ $0.removeValue(forKey: task) }) else { return false }
        for (fd, b) in [(Int32(1), rest.out), (2, rest.err)] where !b.isEmpty {
            let ok = statusLine.write(fd) { (b.withUnsafeBytes { writeAll(fd, $0) }, b.last) }
            if !ok && fd == 1 { stdoutClosed.store(true, ordering: .relaxed) }
        }
        return true
    }
}

/// Where a run's spool files go: `X.spool/` beside the journal `X.jsonl`, or a temporary directory with no journal.
struct SpoolPlace {
    /// The directory (created on first use beside a journal; at once when temporary).
    let directory: String?
    /// A temporary directory of this run.
    let temporary: Bool

    /// Beside journal `journal`: `X.spool/` for its first run, `X.spool/runN/` for a resume (N = 2...), so a
    /// resumed task's spool never overwrites the file the first run's `completed` line names (ids are per run).
    init(journal: String?, run: Int = 1) {
        if let journal {
            let base = JournalFormat.spoolPath(forJournal: journal)
            if run > 1 {
                // The run's directory is made on first use; its parent must be there for that.
                try? PrivateFiles.makeDirectory(base)
                directory = base + "/run\(run)"
            } else {
                directory = base
            }
            temporary = false
            return
        }
        temporary = true
        do throws(Errno) {
            directory = try PrivateFiles.makeTemporaryDirectory(prefix: "ppdash-spool-")
        } catch {
            note(
                "ppdash: cannot make a spool directory under $TMPDIR (\(SystemFacts.errorText(error.rawValue))): "
                    + "output past --max-output keeps its head and tail only")
            directory = nil
        }
    }

    /// At exit: a temporary directory is removed when empty (plain mode printed and removed its files); kept, and
    /// named on stderr, when files in it are named by `--json` records.
    func finish() {
        guard temporary, let directory else { return }
        if PrivateFiles.removeEmptyDirectory(directory) { return }
        let n = PrivateFiles.names(in: directory)?.count ?? 0
        note("ppdash: \(n) spool file\(n == 1 ? "" : "s") of this run's whole outputs kept in \(directory)")
    }
}
