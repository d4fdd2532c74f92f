// GNU parallel's job control and output files for `run`: --joblog (and --resume/--resume-failed from it),
// --results DIR, --files, and GNU parallel's exit status (with --halt's thresholds).
import ArgumentParser
import Foundation
import Glibc
import PPKit
import PPSystem
import Synchronization

// MARK: --joblog

/// Appends joblog lines to the file, one write(2) each.
final class JoblogWriter: Sendable {
    let path: String
    private let fd: Int32
    /// The first write error, reported once. Guarded by this Mutex.
    private let failed = Mutex<Bool>(false)

    /// Opens `path`: emptied and given the header (a new run), or appended to (`--resume`), the header written
    /// when it is empty.
    init(path: String, append: Bool) throws {
        let fd = ByteText.withCString(path) {
            open($0, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o666)
        }
        guard fd >= 0 else {
            throw ValidationError("--joblog \(ByteText.lossy(path)): \(SystemFacts.errorText(errno))")
        }
        self.path = path
        self.fd = fd
        var st = stat()
        if fstat(fd, &st) == 0 && st.st_size == 0 { write(Joblog.header) }
    }

    deinit { close(fd) }

    /// Writes `line`'s bytes (ByteText: an argument's byte that is not UTF-8 is written as it was).
    func write(_ line: String) {
        let error: Int32 = ByteText.bytes(of: line).withUnsafeBufferPointer { b in
            var off = 0
            while off < b.count {
                let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                off += n
            }
            return 0
        }
        guard error != 0 else { return }
        let first = failed.withLock { f in
            defer { f = true }
            return !f
        }
        if first { note("ppdash: cannot write the joblog \(ByteText.lossy(path)): \(SystemFacts.errorText(error))") }
    }

    var hasFailed: Bool { failed.withLock { $0 } }
}

/// The Seqs a `--resume`/`--resume-failed` run skips, read from the joblog (none if it does not exist yet).
func joblogSkips(path: String, failedToo: Bool) throws -> Set<Int> {
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("--joblog \(ByteText.lossy(path)): cannot read it to resume")
    }
    return Joblog.skipped(Joblog.parse(ByteText.decode(data)), failedToo: failedToo)
}

// MARK: --results DIR

/// Writing `--results` files.
extension ResultsLayout {
    /// Makes `path` and its parents (as `mkdir -p`).
    static func makeDirectories(_ path: String) -> Int32 {
        var built = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            built += (built.isEmpty || built.hasSuffix("/") ? "" : "/") + part
            let r = ByteText.withCString(built) { mkdir($0, 0o777) }
            if r != 0 && errno != EEXIST { return errno }
        }
        return 0
    }

    /// Writes `bytes`-producing `body` into `path` (created or emptied); the errno of a failure, else 0.
    static func write(_ path: String, _ body: (Int32) -> Bool) -> Int32 {
        let fd = ByteText.withCString(path) { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666) }
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return body(fd) ? 0 : EPIPE
    }
}

// MARK: exit status

// MARK: the run's GNU side

/// What `run` does for GNU parallel's options as each task finishes (before it is printed): the joblog line, the
/// results files, the exit status's count.
final class GNURun: Sendable {
    let joblog: JoblogWriter?
    let results: String?
    /// The Seq of each task of the batch by its position, when it is not the position (`--resume`, `--shuf`); a
    /// fed batch adds them as it goes (`appendSeqs`). Guarded by this Mutex.
    private let seqs: Mutex<[Int]?>
    private let exit: Mutex<GNUExitStatus>
    private let localHost = SystemFacts.hostName
    /// The batch's task count, for a halt percentage (asked only with --halt: a fed batch's count is a snapshot).
    let total: @Sendable () -> Int
    let halting: Bool

    init(joblog: JoblogWriter?, results: String?, seqs: [Int]?, halt: HaltOption?, total: @escaping @Sendable () -> Int) {
        self.joblog = joblog
        self.results = results
        self.seqs = Mutex(seqs)
        self.exit = Mutex(GNUExitStatus(halting: halt?.when != nil, condition: halt?.condition))
        self.total = total
        self.halting = halt?.when != nil
    }

    func seq(_ m: TaskMetadata) -> Int {
        seqs.withLock { seqs in
            guard let seqs, m.seq >= 1, m.seq <= seqs.count else { return m.seq }
            return seqs[m.seq - 1]
        }
    }

    /// The Seqs of the tasks a fed batch gets next, in order: told before they are in the batch.
    func appendSeqs(_ more: [Int]) {
        seqs.withLock { s in
            if s == nil { s = [] }
            s!.append(contentsOf: more)
        }
    }

    func completed(_ m: TaskMetadata) {
        let ran = m.started != nil
        if let joblog, ran {
            let host = m.engineHost.map { $0 == localHost ? ":" : $0 } ?? ":"
            joblog.write(Joblog.line(Joblog.entry(m, seq: seq(m), host: host)))
        }
        if let results, ran { writeResults(m, root: results) }
        let failed = m.status != .ok
        let total = halting ? total() : 0
        exit.withLock { $0.record(failed: failed, exitStatus: m.exitStatus, signal: m.signal, total: total) }
    }

    var exitStatus: Int32 { exit.withLock { $0.status } }

    /// Some task's --results files could not be written (said at once): the run did not do what it promised.
    let resultsFailed = Atomic<Bool>(false)

    /// The joblog or the results could not be written.
    var hasFailed: Bool { joblog?.hasFailed == true || resultsFailed.load(ordering: .relaxed) }

    private func writeResults(_ m: TaskMetadata, root: String) {
        let dir = ResultsLayout.directory(root: root, args: m.args)
        var e = ResultsLayout.makeDirectories(dir)
        if e == 0 { e = ResultsLayout.write(dir + "/seq") { writeAll($0, String(seq(m))) } }
        if e == 0 { e = ResultsLayout.write(dir + "/stdout") { printOutput($0, m.stdout) } }
        if e == 0 { e = ResultsLayout.write(dir + "/stderr") { printOutput($0, m.stderr) } }
        if e != 0 {
            _ = statusLine.write(2, "ppdash: --results: cannot write \(ByteText.lossy(dir)): \(SystemFacts.errorText(e))\n")
            resultsFailed.store(true, ordering: .relaxed)
        }
    }
}

/// `--files`: a task's stdout goes to a new file under $TMPDIR (`parXXXXXX.par`, as GNU names them); its name is
/// what is printed. Nil (and said on stderr) if the file cannot be made.
func writeOutputFile(_ o: CapturedOutput) -> String? {
    var base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
    var template = Array((base + "/parXXXXXX.par").utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemps($0.baseAddress!, 4) }
    guard fd >= 0 else {
        _ = statusLine.write(2, "ppdash: --files: cannot make a file in \(base): \(SystemFacts.errorText(errno))\n")
        _ = outputWriteError.compareExchange(expected: 0, desired: errno, ordering: .relaxed)
        return nil
    }
    defer { close(fd) }
    _ = printOutput(fd, o)
    return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
