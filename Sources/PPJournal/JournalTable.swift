// The reader's task table: one compact row a task (numbers, and the file offsets of the lines that hold its command,
// arguments and outcome); a `JournalTask` is made from a row when asked, reading those lines back.
import Algorithms
import Glibc
import PPJSON
import PPKit
import Synchronization

/// A task's command and arguments, held in memory only when there is no file to read them back from.
struct CommandText: Sendable, Hashable {
    var command: String
    var args: [String]
}

/// Every task of a journal read back, as compact rows (about 100 B a task whatever its command, arguments or output).
public struct JournalTaskTable: Sendable {
    /// One task. Times are microseconds since the epoch (`none` when unknown); text and output are where to find them.
    struct Row: Sendable {
        var seq: Int64
        /// The id in its key (`RUN.ID` keys: `keyRun` > 1).
        var keyID: Int64
        var submitted: Int64
        var started: Int64
        var completed: Int64
        /// The offset of the line holding its command and arguments (a `submitted` line, or a range's); `planned`:
        /// a task of the tail (made, never stored); below that, `-3 - i` for `texts[i]`.
        var textAt: Int64
        /// The offset of its `completed` line; `noOutcome`: none; below that, `-2 - i` for `outcomes[i]`.
        var outputAt: Int64
        var batch: Int32
        var keyRun: Int32
        /// The engine, or -1.
        var engine: Int32
        /// The process group of its last start, or 0.
        var processGroup: Int32
        var run: Int32
        var retries: Int32
        var attempt: Int32
        /// Index in `hosts`, or -1.
        var host: Int32
        var status: TaskStatus

        static let none = Int64.min
        static let planned: Int64 = -2
        static let noOutcome: Int64 = -1
    }

    var rows: [Row] = []
    /// Batch labels by journal-wide batch number (1-based).
    var labels: [String] = []
    /// Engine hosts, each once.
    var hosts: [String] = []
    /// Text of tasks read from memory (`JournalReader.parse`), which has no file to read back from.
    var texts: [CommandText] = []
    /// Outcomes kept in memory (`read` with `keepOutput: true`, or `parse`).
    var outcomes: [OutcomeBox] = []
    /// The first run's tasks whose `submitted` line never reached the disk: after the rows, without a row each.
    public internal(set) var tail: PlannedTail?
    /// The journal's file, read back from for command, arguments and outcome.
    let file: JournalLines?

    init(file: JournalLines?) { self.file = file }

    /// Tasks: the rows, then the planned tail.
    public var count: Int { rows.count + (tail?.count ?? 0) }
    /// Tasks with a row (the tail's come after them).
    public var rowCount: Int { rows.count }

    /// Task `i`'s row; a planned task's is made.
    func row(_ i: Int) -> Row {
        if i < rows.count { return rows[i] }
        let t = tail!
        let seq = Int64(t.seq(i - rows.count))
        return Row(
            seq: seq, keyID: seq, submitted: t.submitted, started: Row.none, completed: Row.none, textAt: Row.planned,
            outputAt: Row.noOutcome, batch: 1, keyRun: 1, engine: -1, processGroup: 0, run: 1, retries: 0, attempt: 1,
            host: -1, status: .pending)
    }

    /// Bytes the table holds, from its arrays' capacities and strides (strings counted by their UTF-8 size): what
    /// reading a journal costs in memory, whatever the tasks printed.
    public var bytesHeld: Int {
        var n = rows.capacity * MemoryLayout<Row>.stride
        for s in labels { n += MemoryLayout<String>.stride + s.utf8.count }
        for s in hosts { n += MemoryLayout<String>.stride + s.utf8.count }
        for t in texts {
            n += MemoryLayout<CommandText>.stride + t.command.utf8.count
            for a in t.args { n += MemoryLayout<String>.stride + a.utf8.count }
        }
        n += outcomes.capacity * MemoryLayout<OutcomeBox>.stride
        n += tail?.bytesHeld ?? 0
        return n
    }

    /// The stride of one row (for tests and the bench).
    public static var rowStride: Int { MemoryLayout<Row>.stride }

    public func status(_ i: Int) -> TaskStatus { i < rows.count ? rows[i].status : .pending }
    public func batch(_ i: Int) -> Int { i < rows.count ? Int(rows[i].batch) : 1 }
    public func run(_ i: Int) -> Int { i < rows.count ? Int(rows[i].run) : 1 }
    public func engine(_ i: Int) -> Int? { i < rows.count && rows[i].engine >= 0 ? Int(rows[i].engine) : nil }

    /// The task's key: its id in the first run, `RUN.ID` for a task first submitted in a later run.
    public func key(_ i: Int) -> String {
        let r = row(i)
        return JournalFormat.key(run: Int(r.keyRun), id: Int(r.keyID))
    }

    /// The columns a table sorts and filters by (no allocation).
    public func taskKey(_ i: Int) -> TaskKey {
        let r = row(i)
        return TaskKey(
            batch: r.batch, seq: Int32(truncatingIfNeeded: r.seq), engine: r.engine, status: r.status,
            retries: UInt16(clamping: r.retries), submitted: r.submitted, started: r.started == Row.none ? 0 : r.started,
            completed: r.completed == Row.none ? 0 : r.completed)
    }

    /// The task's command and arguments: from memory, the sweep, or its line in the file ("?" if that is gone).
    func text(_ i: Int) -> CommandText {
        if i >= rows.count, let tail {
            let work = tail.work(i - rows.count)
            return CommandText(command: work.displayCommand, args: work.args)
        }
        let r = rows[i]
        if r.textAt <= -3 { return texts[Int(-3 - r.textAt)] }
        if r.textAt >= 0, let file, let t = file.commandText(at: r.textAt) { return t }
        return CommandText(command: "?", args: [])
    }

    /// The task's command (as `text(_:)`).
    public func command(_ i: Int) -> String { text(i).command }

    /// The task as a whole, its command and arguments read back.
    public func task(_ i: Int) -> JournalTask {
        let r = row(i)
        let t = text(i)
        func ts(_ v: Int64) -> Timestamp? { v == Row.none ? nil : Timestamp(microseconds: v) }
        var task = JournalTask(
            key: key(i), batch: Int(r.batch), seq: Int(r.seq),
            label: labels.indices.contains(Int(r.batch) - 1) ? labels[Int(r.batch) - 1] : "", command: t.command,
            args: t.args, status: r.status, engine: r.engine >= 0 ? Int(r.engine) : nil,
            host: r.host >= 0 ? hosts[Int(r.host)] : nil, processGroup: r.processGroup != 0 ? r.processGroup : nil,
            run: Int(r.run), submitted: Timestamp(microseconds: r.submitted), started: ts(r.started),
            completed: ts(r.completed), retries: Int(r.retries), outcome: nil, attempt: Int(r.attempt))
        if r.outputAt <= -2 {
            task.outcome = outcomes[Int(-2 - r.outputAt)].value
        } else if r.outputAt >= 0 {
            task.outputOffset = r.outputAt
        }
        return task
    }

    /// Counters over the tasks' latest states.
    var counts: StatusCounts {
        var c = StatusCounts()
        for r in rows { c[r.status] += 1 }
        c.pending += tail?.count ?? 0
        return c
    }
}

/// The tasks of a journal, each made from its row when read (a loop reads their lines in file order).
public struct JournalTasks: RandomAccessCollection, Sendable {
    public let table: JournalTaskTable
    public var startIndex: Int { 0 }
    public var endIndex: Int { table.count }
    public subscript(i: Int) -> JournalTask { table.task(i) }
}

/// A journal file read back line by line at known offsets, through one window of it (a loop over tasks in file order
/// reads each part of the file once).
final class JournalLines: Sendable {
    let path: String
    private struct Window: ~Copyable {
        var fd: Int32 = -1
        var start: Int64 = 0
        var bytes: [UInt8] = []
        deinit { if fd >= 0 { close(fd) } }
    }
    private let window = Mutex(Window())
    /// Bytes read at a time; a longer line is read whole (up to `maxLine`).
    static let chunk = 256 * 1024
    static let maxLine = 256 << 20

    init(path: String) { self.path = path }

    /// Calls `body` with the line at `offset` (without its newline); nil when it cannot be read.
    func withLine<R: Sendable>(at offset: Int64, _ body: (UnsafeBufferPointer<UInt8>) -> R?) -> R? {
        window.withLock { w -> R? in
            if w.fd < 0 {
                w.fd = open(path, O_RDONLY | O_CLOEXEC)
                if w.fd < 0 { return nil }
            }
            let end = w.start + Int64(w.bytes.count)
            if offset >= w.start && offset < end {
                let s = Int(offset - w.start)
                if let nl = w.bytes[s...].firstIndex(of: 10) {
                    return w.bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[s..<nl])) }
                }
            }
            // Read from the line's start until its newline (or the end of the file).
            w.start = offset
            w.bytes.removeAll(keepingCapacity: true)
            var from = 0
            while w.bytes.count < Self.maxLine {
                let want = max(Self.chunk, w.bytes.count)
                w.bytes.append(contentsOf: repeatElement(0, count: want))
                let fd = w.fd
                let n = w.bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + from, want, off_t(offset) + off_t(from)) }
                if n < 0 && errno == EINTR {
                    w.bytes.removeLast(want)
                    continue
                }
                w.bytes.removeLast(want - max(0, n))
                if n <= 0 { break }
                if w.bytes[from...].contains(10) { break }
                from = w.bytes.count
            }
            let nl = w.bytes.firstIndex(of: 10) ?? w.bytes.count
            return w.bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<nl])) }
        }
    }

    /// The command and arguments the line at `offset` gives (a `submitted` line, a range's or a `completed` line).
    func commandText(at offset: Int64) -> CommandText? {
        withLine(at: offset) { line -> CommandText? in
            guard let j = try? JSONValue.parse(line), let event = try? JournalEvent.decode(j) else { return nil }
            switch event {
            case .submitted(let e): return CommandText(command: e.command, args: e.to == nil ? e.args : [])
            case .completed(let r, _, _): return CommandText(command: r.command, args: r.args)
            default: return nil
            }
        }
    }
}

/// The tasks of the first run's sweep that no `submitted` line names (ppdash was killed while the backlog was
/// written): seqs 1...planned that no row holds, in order, without a row each: a bitmap of the seqs rows hold (up to
/// the highest) and the plain range past it. 10 million never-submitted tasks cost nothing; written ones one bit.
public struct PlannedTail: Sendable {
    public let sweep: Sweep
    /// Bit `s - 1` set: seq `s` has a row. Covers seqs 1...covered.
    var seen: [UInt64]
    /// Unseen seqs in the words before each block of `blockWords` words (for `seq(_:)`).
    var unseenBefore: [Int]
    static let blockWords = 64
    /// The highest seq a row holds (0: none).
    let covered: Int
    let unseenCovered: Int
    /// Seqs 1...planned are the tail's or a row's.
    public let planned: Int
    /// When the first run started (the tasks' submission time).
    let submitted: Int64

    init(sweep: Sweep, planned: Int, submitted: Int64, seen seqs: [Int]) {
        self.sweep = sweep
        self.planned = planned
        self.submitted = submitted
        let covered = seqs.max() ?? 0
        self.covered = covered
        var seen = [UInt64](repeating: 0, count: (covered + 63) / 64)
        for s in seqs where s >= 1 { seen[(s - 1) >> 6] |= 1 << UInt64((s - 1) & 63) }
        var unseenBefore = [Int]()
        unseenBefore.reserveCapacity(seen.count / Self.blockWords + 1)
        var unseen = 0
        for w in seen.indices {
            if w % Self.blockWords == 0 { unseenBefore.append(unseen) }
            unseen += Self.unseenBits(seen, w, covered: covered).nonzeroBitCount
        }
        self.seen = seen
        self.unseenBefore = unseenBefore
        self.unseenCovered = unseen
    }

    /// The bits of word `w` for seqs no row holds (within 1...covered).
    static func unseenBits(_ seen: [UInt64], _ w: Int, covered: Int) -> UInt64 {
        let bits = min(64, covered - w * 64)
        let mask: UInt64 = bits >= 64 ? ~0 : (1 << UInt64(bits)) - 1
        return ~seen[w] & mask
    }

    /// How many tasks the tail holds.
    public var count: Int { unseenCovered + (planned - covered) }

    /// The seq of the tail's `k`-th task (0-based).
    public func seq(_ k: Int) -> Int {
        if k >= unseenCovered { return covered + 1 + (k - unseenCovered) }
        let lo = unseenBefore.partitioningIndex { $0 > k } - 1
        var left = k - unseenBefore[lo]
        var w = lo * Self.blockWords
        while w < seen.count {
            var x = Self.unseenBits(seen, w, covered: covered)
            let c = x.nonzeroBitCount
            if left < c {
                for _ in 0..<left { x &= x - 1 }
                return w * 64 + x.trailingZeroBitCount + 1
            }
            left -= c
            w += 1
        }
        return covered + 1  // not reached: k < unseenCovered
    }

    /// The shell task of the tail's `k`-th task.
    public func work(_ k: Int) -> ShellTask {
        let s = seq(k)
        return ShellTask(template: sweep.template, args: sweep.arguments(at: s - 1), seq: s)
    }

    /// Bytes it holds.
    var bytesHeld: Int { seen.capacity * 8 + unseenBefore.capacity * 8 }
}
