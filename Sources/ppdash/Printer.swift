import Foundation
import PPKit
import PPSource
import PPSystem
import Synchronization

/// Prints each task's output as it completes (or in submission order).
final class Printer: Sendable {
    let json: Bool
    let keepOrder: Bool
    let scheduler: Scheduler
    /// Next seq to print and the outputs waiting for it (keep-order). Guarded by this Mutex.
    let pending = Mutex<(next: Int, held: [Int: TaskMetadata])>((0, [:]))
    /// While the dashboard is to show the outputs: nothing is printed, the completed tasks are listed (ids only) in
    /// case it cannot start after all (`speak`). Guarded by this Mutex.
    private let silenced: Mutex<(on: Bool, missed: [TaskID])>
    /// stdout's reader is gone (EPIPE): nothing more is printed, and the run stops as a filter would.
    let outputClosed = Atomic<Bool>(false)
    /// `--line-buffer`: lines already printed as they came; only the rest is printed at completion.
    let lines: LineBuffer?
    /// The spool files are removed once printed (a temporary spool in plain mode: nothing else names them).
    let removePrintedSpools: Bool
    /// A printed task's output leaves memory (headless: no dashboard of this process shows it again).
    let releasePrinted: Bool
    /// `resume`: the id and seq each task had in the run (the scheduler's ids are new): printed, as the journal has.
    let origins: TaskOrigins
    /// Where a task's output goes instead of stdout and stderr (`--results`, `--files`).
    let sink: OutputSink
    /// The tag before each line of a task's output (`--tag`, `--tagstring`).
    let tagOf: (@Sendable (TaskMetadata) -> String)?

    /// Where task output goes.
    enum OutputSink: Sendable {
        /// stdout and stderr.
        case print
        /// Nowhere here (`--results` wrote it to files).
        case none
        /// stdout to a file under $TMPDIR, whose name is printed (`--files`); stderr printed.
        case files
    }

    init(
        json: Bool, keepOrder: Bool, scheduler: Scheduler, quiet: Bool, lines: LineBuffer? = nil,
        removePrintedSpools: Bool = false, releasePrinted: Bool = false, origins: TaskOrigins = [:],
        sink: OutputSink = .print, tagOf: (@Sendable (TaskMetadata) -> String)? = nil
    ) {
        self.origins = origins
        self.sink = sink
        self.tagOf = tagOf
        self.releasePrinted = releasePrinted
        self.json = json
        self.keepOrder = keepOrder
        self.scheduler = scheduler
        self.silenced = Mutex((quiet, []))
        self.lines = lines
        self.removePrintedSpools = removePrintedSpools && !json
    }

    /// Prints from now on, starting with the tasks that completed while silenced (the dashboard could not open).
    func speak() {
        let missed = silenced.withLock { s -> [TaskID] in
            defer { s = (false, []) }
            return s.on ? s.missed : []
        }
        for task in missed { completed(task, batch: 0) }
    }

    func completed(_ task: TaskID, batch: BatchID) {
        let silent = silenced.withLock { s -> Bool in
            if s.on { s.missed.append(task) }
            return s.on
        }
        if silent {
            // The dashboard shows it, and it is printed after quit: from disk (the spool file), not from memory.
            scheduler.spillOutput(task)
            return
        }
        guard let m = scheduler.metadata(task) else { return }
        if !keepOrder { return emit(m) }
        let ready: [TaskMetadata] = pending.withLock { p in
            p.held[m.seq - 1] = m
            var out = [TaskMetadata]()
            while let next = p.held.removeValue(forKey: p.next) {
                out.append(next)
                p.next += 1
            }
            return out
        }
        for r in ready { emit(r) }
    }

    /// `--line-buffer`'s printer thread met a closed stdout: the run stops as a filter would (checked by the waiter).
    func noteLinesClosed() {
        if lines?.stdoutClosed == true { outputClosed.store(true, ordering: .relaxed) }
    }

    func flush() {
        lines?.drain()
        noteLinesClosed()
        let rest = pending.withLock { p -> [TaskMetadata] in
            let r = p.held.sorted { $0.key < $1.key }
            p.held.removeAll()
            if let last = r.last { p.next = max(p.next, last.key + 1) }
            return r.map(\.value)
        }
        for r in rest { emit(r) }
    }

    private func emit(_ m: TaskMetadata) {
        guard !outputClosed.load(ordering: .relaxed) else { return }
        let shownID = origins[m.id]?.key ?? "\(m.id)"
        var ok = true
        if json {
            var record = FlatTaskRecord(m)
            if let o = origins[m.id] { (record.id, record.seq) = (o.key, o.seq) }
            ok = statusLine.write(1, record.jsonLine() + "\n")
        } else {
            // Through the progress line's lock: a line drawn on the terminal is erased before the output.
            if let lines, lines.finish(m.id) {
                // Printed line by line as it came; the unfinished last lines were just printed.
            } else {
                switch sink {
                case .print:
                    let tag = tagOf.map { ByteText.bytes(of: $0(m)) }  // an argument's bytes as given, not UTF-8
                    ok = printOutput(1, m.stdout, tag: tag)
                    _ = printOutput(2, m.stderr, tag: tag)
                case .none:
                    break
                case .files:
                    if let path = writeOutputFile(m.stdout) { ok = statusLine.write(1, path + "\n") }
                    _ = printOutput(2, m.stderr, tag: tagOf.map { ByteText.bytes(of: $0(m)) })
                }
            }
            for (name, o) in [("stdout", m.stdout), ("stderr", m.stderr)] where o.droppedBytes > 0 && o.spool == nil {
                let why = m.status == .ok ? m.error.map { " (\($0))" } ?? "" : ""
                _ = statusLine.write(
                    2,
                    "ppdash: task \(shownID): \(o.droppedBytes) bytes of \(name) were not kept (the middle of the stream; "
                        + "--max-output \(o.bytes.count) keeps the head and tail)\(why)\n")
            }
            // A spool is the only copy once memory lets go of it: kept when the output could not be written.
            if removePrintedSpools && outputWriteError.load(ordering: .relaxed) == 0 {
                for o in [m.stdout, m.stderr] { if let p = o.spool { PrivateFiles.remove(p) } }
            }
            // A task aborted before it started (a stopped batch) is counted in the summary, not listed: stopping
            // ten million pending tasks is one line.
            if m.status != .ok, let e = m.error, !(m.status == .aborted && m.started == nil) {
                _ = statusLine.write(2, "ppdash: task \(shownID) (\(Messages.quoted(command: m.text))) \(m.status): \(e)\n")
            }
        }
        if !ok || lines?.stdoutClosed == true { outputClosed.store(true, ordering: .relaxed) }
        if releasePrinted { scheduler.releaseOutput(m.id) }
    }
}

/// Writes a stream's output to `fd` whole: from its spool file when it has one (bounded memory), else the bytes kept.
/// False once the reader is gone.
func printOutput(_ fd: Int32, _ o: CapturedOutput, tag: [UInt8]? = nil) -> Bool {
    if o.isEmpty { return true }
    var tagger = tag.map { LineTagger(tag: $0) }
    /// Writes a piece of the output, tagged when asked.
    func put(_ piece: UnsafeRawBufferPointer) -> Bool {
        guard tagger != nil else { return writeAll(fd, piece) }
        let tagged = tagger!.tag(ArraySlice(piece))
        return tagged.withUnsafeBytes { writeAll(fd, $0) }
    }
    if let path = o.spool {
        let fileFD: Int32
        do throws(Errno) { fileFD = try OwnedDescriptor.openForReading(path).release() } catch {
            _ = statusLine.write(
                2,
                "ppdash: cannot read \(path) (\(SystemFacts.errorText(error.rawValue))): only the head and tail of "
                    + "this output are printed, \(o.droppedBytes) bytes between them are not\n")
            return printBytes(fd, o, tag: tag)
        }
        defer { close(fileFD) }
        var failure: String?
        let ok = statusLine.write(fd) {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var last: UInt8?
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fileFD, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot read \(path): " + SystemFacts.errorText(errno)
                    return (true, last)
                }
                if n == 0 { return (true, last) }
                last = buffer[n - 1]
                if !buffer.withUnsafeBytes({ put(UnsafeRawBufferPointer(rebasing: $0[..<n])) }) {
                    return (false, last)
                }
            }
        }
        if let failure { _ = statusLine.write(2, "ppdash: \(failure): this output was cut there\n") }
        return ok
    }
    return printBytes(fd, o, tag: tag)
}

/// Writes the bytes kept in memory.
private func printBytes(_ fd: Int32, _ o: CapturedOutput, tag: [UInt8]? = nil) -> Bool {
    let bytes = tag.map { tagLines(o.bytes, $0) } ?? o.bytes
    return statusLine.write(fd) { (bytes.withUnsafeBytes { writeAll(fd, $0) }, bytes.last) }
}

/// The first error other than EPIPE that a write of task output met (ENOSPC, EIO...), 0 if none: that output is
/// not where the user asked for it, so the run says so and ends non-zero (`BatchEnding`).
let outputWriteError = Atomic<Int32>(0)

/// write(2) all of `bytes` to `fd`; false once the reader is gone (EPIPE). Any other error is recorded in
/// `outputWriteError` (the rest of this piece is skipped, later pieces are tried).
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EPIPE { return false }
            _ = outputWriteError.compareExchange(expected: 0, desired: errno, ordering: .relaxed)
            return true
        }
        off += n
    }
    return true
}

/// write(2) all of `s` to `fd`, so outputs of concurrent tasks never interleave within one task; as the bytes' one.
func writeAll(_ fd: Int32, _ s: String) -> Bool {
    var s = s
    return s.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
}
