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

    @Flag(help: "Prefix each line of output with the task's arguments and a tab (GNU parallel's --tag).")
    var tag = false

    @Option(help: ArgumentHelp("Prefix each line of output with STR (replacement strings expanded, not quoted) and a tab.", valueName: "STR"))
    var tagstring: String?

    @Flag(name: [.customShort("u"), .customLong("ungroup")], help: "Print output as it comes, not grouped by task (lines of tasks may mix).")
    var ungroup = false

    @Option(help: ArgumentHelp("Save each task's output in DIR/1/ARG1/2/ARG2/{seq,stdout,stderr}, not on stdout (GNU parallel's layout).", valueName: "DIR"))
    var results: String?

    @Flag(help: "Save each task's stdout in a file under $TMPDIR and print the file's name.")
    var files = false

    @Flag(name: .customLong("dry-run"), help: "Print the commands, run nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp("Write GNU parallel's joblog (tab-separated, one line per finished task) to FILE.", valueName: "FILE"))
    var joblog: String?

    @Flag(help: "With --joblog: skip the tasks the joblog has (by their number {#}); append to it.")
    var resume = false

    @Flag(name: .customLong("resume-failed"), help: "With --joblog: skip the tasks the joblog has as succeeded; run failed and new ones.")
    var resumeFailed = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Start tasks at least SECONDS apart.", valueName: "SECONDS"))
    var delay: Seconds?

    @Flag(help: "Run the tasks in a random order ({#} counts in that order).")
    var shuf = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Run tasks at this niceness (this process too; local engines only).", valueName: "N"))
    var nice: Int?

    @Option(help: ArgumentHelp("Start no task while this host has less memory available (k M G T suffixes).", valueName: "SIZE"))
    var memfree: ByteSize?

    @Option(parsing: .unconditional, help: ArgumentHelp("Start no task while this host's 1-minute load average is over MAX (N% of the cores).", valueName: "MAX"))
    var load: String?

    func validate(json: Bool, keepOrder: Bool) throws {
        if lineBuffer && json { throw ValidationError("--line-buffer prints plain lines: leave out --json") }
        if ungroup && json { throw ValidationError("--ungroup prints output as it comes: leave out --json") }
        if ungroup && lineBuffer { throw ValidationError("give --ungroup or --line-buffer, not both") }
        if let tagstring, tagstring.contains("{=") {
            throw ValidationError("--tagstring \(tagstring): perl expressions {= ... =} are not supported")
        }
        if (tag || tagstring != nil) && json { throw ValidationError("--tag and --tagstring tag plain lines: leave out --json") }
        let sinks = [results != nil, files, dryRun, json].filter { $0 }.count
        if sinks > 1 { throw ValidationError("give one of --results, --files, --dry-run and --json") }
        if let results {
            if results.isEmpty { throw ValidationError("--results: give a directory") }
            if results.contains("{") || [".csv", ".tsv", ".json"].contains(where: results.hasSuffix) {
                throw ValidationError("--results \(results): only a plain directory is supported (not a replacement string, .csv, .tsv or .json)")
            }
        }
        if (resume || resumeFailed) && joblog == nil { throw ValidationError("--resume and --resume-failed need --joblog FILE") }
        if resume && resumeFailed { throw ValidationError("give --resume or --resume-failed, not both") }
        try delay?.check("--delay", Seconds.nonNegative, ">= 0")
        if let nice { try checkCount("--nice", nice, -20...19) }
        if let load { _ = try loadLimit(load) }
    }

    /// `--load MAX` as a load average: a number, or N% of the cores.
    func loadLimit(_ text: String) throws -> Double {
        let percent = text.hasSuffix("%")
        guard let v = Double(percent ? String(text.dropLast()) : text), v.isFinite, v > 0, v < 1e6 else {
            throw ValidationError("--load must be a number > 0 or a percentage of the cores (got \(text))")
        }
        return percent ? v / 100 * Double(ProcessInfo.processInfo.activeProcessorCount) : v
    }

    /// The tag of a task's lines (`--tag`, `--tagstring`); nil when its lines are not tagged (`-u` ignores both, as
    /// GNU parallel does).
    func tagger(seq: @escaping @Sendable (TaskMetadata) -> Int) -> (@Sendable (TaskMetadata) -> String)? {
        if ungroup { return nil }
        guard let tagText else { return nil }
        return { m in tagText(m.args, seq(m)) }
    }

    /// The tag of a task with these arguments and Seq (`--tag`, `--tagstring`, with its tab); nil without one.
    var tagText: (@Sendable (_ args: [String], _ seq: Int) -> String)? {
        if let tagstring {
            let t: Template
            do { t = try Template(tagstring) } catch { return { _, _ in tagstring + "\t" } }
            return { args, seq in t.renderUnquoted(args: args, seq: seq, slot: nil) + "\t" }
        }
        if tag { return { args, _ in args.joined(separator: " ") + "\t" } }
        return nil
    }
}

/// `--line-buffer`: each task's whole lines are printed as they arrive; a line never mixes with another task's.
/// `--ungroup` (`raw`): every chunk is printed as it arrives.
final class LineBuffer: Sendable {
    /// Per task, the unfinished last line of stdout and of stderr, and its lines' tag. Guarded by this Mutex.
    private let partial = Mutex<[TaskID: (out: [UInt8], err: [UInt8], tag: [UInt8])]>([:])
    /// A line longer than this is printed in pieces (memory stays bounded).
    static let longestLine = 1 << 20
    /// Chunks are printed as they come, not cut at lines (`--ungroup`).
    let raw: Bool
    /// The tag of a task's lines (`--tag`, `--tagstring`), asked once per task.
    let tagOf: (@Sendable (TaskID) -> String?)?

    /// Lines go out through one printer thread: the thread handing a chunk over (a remote engine's link loop) never
    /// waits for a stdout nobody reads (bounded in memory, spilled to a file past that, never dropped).
    let queue: OutputQueue

    init(raw: Bool = false, tagOf: (@Sendable (TaskID) -> String?)? = nil, memoryBound: Int = 4 << 20) {
        self.raw = raw
        self.tagOf = tagOf
        queue = OutputQueue(memoryBound: memoryBound) { fd, bytes in
            statusLine.write(fd) { (bytes.withUnsafeBytes { writeAll(fd, $0) }, bytes.last) }
        }
    }

    /// stdout's reader is gone (EPIPE on a line the printer thread wrote): the run stops as a filter would.
    var stdoutClosed: Bool { queue.stdoutClosed.load(ordering: .relaxed) }

    /// Waits until every line handed over so far is written.
    func drain() { queue.drain() }

    /// A tap for the view's flags: every chunk of every task on an engine in this process.
    var tap: OutputTap { OutputTap { [self] task, stream, bytes in chunk(task, stream: stream, bytes) } }

    func chunk(_ task: TaskID, stream: Int, _ bytes: UnsafeRawBufferPointer) {
        let known = tagOf != nil && partial.withLock { $0[task] != nil }
        let newTag = known ? nil : tagOf?(task).map { Array($0.utf8) }
        let ready: [UInt8] = partial.withLock { p in
            var entry = p[task] ?? ([], [], newTag ?? [])
            defer { p[task] = entry }
            if raw { return Array(bytes) }
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
            return entry.tag.isEmpty ? out : tagLines(out, entry.tag)
        }
        if !ready.isEmpty { queue.put(stream == 0 ? 1 : 2, ready) }
    }

    /// Prints the task's unfinished last lines; false if no output of the task came through here (a worker
    /// process's task: its output is printed whole at completion).
    func finish(_ task: TaskID) -> Bool {
        guard let rest = partial.withLock({ $0.removeValue(forKey: task) }) else { return false }
        for (fd, b) in [(Int32(1), rest.out), (2, rest.err)] where !b.isEmpty {
            queue.put(fd, rest.tag.isEmpty ? b : tagLines(b, rest.tag))
        }
        return true
    }
}

/// `bytes` (whole lines, maybe an unfinished last one) with `tag` before each line, as GNU parallel's --tag.
func tagLines(_ bytes: [UInt8], _ tag: [UInt8]) -> [UInt8] {
    var state = LineTagger(tag: tag)
    return state.tag(bytes[...])
}

/// Puts a tag before each line of a stream given in pieces (a line may span pieces).
struct LineTagger {
    let tag: [UInt8]
    var atLineStart = true

    mutating func tag(_ piece: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(piece.count + tag.count)
        for b in piece {
            if atLineStart { out.append(contentsOf: tag) }
            out.append(b)
            atLineStart = b == UInt8(ascii: "\n")
        }
        return out
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
