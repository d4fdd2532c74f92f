// A finished task's output read back from its spool file, for a view that shows it after memory let it go: the head
// and tail (as the capture keeps them), never the whole file.
import Glibc
import PPSystem

extension CapturedOutput {
    /// This stream with its head and tail read back from the spool file (at most `limit` bytes, half each), when its
    /// bytes left memory (`released`) and the spool has them; nil otherwise or when the file cannot be read.
    /// `ifCut`: also when the bytes are there but cut (`droppedBytes`), as a journal's line keeps a few KiB.
    public func readBack(limit: Int = 65536, ifCut: Bool = false) -> CapturedOutput? {
        guard released || (ifCut && droppedBytes > 0), let path = spool, limit > 0 else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(st.st_size)
        func read(_ offset: Int, _ count: Int) -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return nil }
                if n == 0 { break }
                done += n
            }
            return Array(out.prefix(done))
        }
        if size <= limit {
            guard let all = read(0, size) else { return nil }
            var o = CapturedOutput(bytes: all, spool: spool)
            o.droppedBytes = max(0, totalBytes - all.count)
            return o
        }
        let headCount = limit / 2
        guard let head = read(0, headCount), let tail = read(size - (limit - headCount), limit - headCount) else { return nil }
        return CapturedOutput(bytes: head + tail, headCount: head.count, droppedBytes: size - head.count - tail.count, spool: spool)
    }
}

extension Scheduler {
    /// Output bytes the scheduler holds for finished tasks (their captures; a shell result shares the same buffers):
    /// what "memory bounded by what runs" is about. A count of bytes, for tests and the benchmark, O(tasks).
    public func retainedOutputBytes() -> Int {
        state.withLock { s in
            var n = 0
            for (slot, x) in s.tasks.extras where s.tasks[slot].status.isFinished {
                n += x.stdout.bytes.count + x.stderr.bytes.count
            }
            return n
        }
    }
}

extension CapturedOutput {
    /// This output cut to at most `limit` kept bytes, half head, half tail (each cut moved off the middle of a UTF-8
    /// sequence, so the text stays text), the bytes left out added to `droppedBytes`; and how many were left out.
    /// Unchanged (0) when it keeps `limit` bytes or fewer.
    public func cut(to limit: Int) -> (output: CapturedOutput, cut: Int) {
        let limit = max(0, limit)
        guard bytes.count > limit else { return (self, 0) }
        var headEnd = min(limit / 2, headCount)
        var tailStart = max(bytes.count - (limit - limit / 2), headEnd)
        // A byte 10xxxxxx continues a sequence: cut before its lead byte (at most 3 back) or after it.
        func continues(_ i: Int) -> Bool { i < bytes.count && bytes[i] & 0xC0 == 0x80 }
        var k = 0
        while headEnd > 0 && continues(headEnd) && k < 3 { headEnd -= 1; k += 1 }
        k = 0
        while continues(tailStart) && k < 3 { tailStart += 1; k += 1 }
        var o = CapturedOutput(
            bytes: Array(bytes[..<headEnd]) + Array(bytes[tailStart...]), headCount: headEnd,
            droppedBytes: droppedBytes + (tailStart - headEnd), spool: spool)
        o.released = released
        return (o, tailStart - headEnd)
    }
}

extension Scheduler {
    /// Streams of at most this many bytes stay in memory when `spillOutput` lets a finished task's output go (writing a
    /// file for each tiny output would cost more than it saves): at most 2 x this per finished task.
    public static let spillAtLeast = 256

    /// A finished task's output leaves memory, for a run whose dashboard shows it (and prints it after quit) from disk:
    /// a stream whose whole bytes are in its spool file is released; a stream kept in memory only (shorter than the
    /// spool's start) is written to the spool file the task would have had (`<spool>/<task>.out`, `.err`) first, then
    /// released. Tiny streams (`spillAtLeast`) stay. Nothing is released that no file holds: a task without a spool
    /// directory, or whose file cannot be written, keeps its output (false). The file is written off the lock.
    @discardableResult
    public func spillOutput(_ task: TaskID) -> Bool {
        let slot = TaskSlot(task)
        let found = state.withLock { s -> (CapturedOutput, CapturedOutput, String?)? in
            guard s.tasks.contains(slot), s.tasks[slot].status.isFinished, let x = s.tasks.extras[slot] else { return nil }
            return (x.stdout, x.stderr, s.tasks[batchOf: slot].options.spoolDirectory)
        }
        guard let (out, err, directory) = found else { return false }
        /// The stream on disk whole (its spool name), nil when it stays in memory.
        func onDisk(_ o: CapturedOutput, _ suffix: String) -> String?? {
            if o.released || o.isEmpty { return .some(nil) }
            if let p = o.spool { return .some(p) }  // the spool has every byte (set only while it does)
            guard o.droppedBytes == 0, o.bytes.count > Scheduler.spillAtLeast, let directory else { return nil }
            let path = directory + "/" + task.description + suffix
            do {
                try PrivateFiles.makeDirectory(directory)
                PrivateFiles.remove(path)
                let file = try OwnedDescriptor.createExclusive(path)
                _ = try o.bytes.withUnsafeBytes { try file.fd.writeAll($0) }
            } catch {
                PrivateFiles.remove(path)
                return nil
            }
            return .some(path)
        }
        let outPath = onDisk(out, ".out")
        let errPath = onDisk(err, ".err")
        return state.withLock { s -> Bool in
            guard s.tasks.contains(slot), s.tasks[slot].status.isFinished, var x = s.tasks.extras[slot],
                x.stdout.totalBytes == out.totalBytes, x.stderr.totalBytes == err.totalBytes
            else { return false }
            var all = true
            func let_(_ o: inout CapturedOutput, _ path: String??) {
                guard let path else { all = false; return }
                guard let path, !o.released else { return }
                o.spool = path
                o = o.releasingBytes()
            }
            let_(&x.stdout, outPath)
            let_(&x.stderr, errPath)
            s.tasks.extras[slot] = x
            if let r = s.tasks.results[slot.index] as? ShellResult {
                s.tasks.results[slot.index] = ShellResult(
                    exitStatus: r.exitStatus, signal: r.signal, stdout: x.stdout, stderr: x.stderr)
            }
            return all
        }
    }
}
