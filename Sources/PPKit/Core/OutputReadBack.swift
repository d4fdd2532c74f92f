// A finished task's output read back from its spool file, for a view that shows it after memory let it go: the head
// and tail (as the capture keeps them), never the whole file.
import Glibc
import PPSystem

extension CapturedOutput {
    /// This stream with its head and tail read back from the spool file (at most `limit` bytes, half each), when its
    /// bytes left memory (`released`) and the spool has them; nil otherwise or when the file cannot be read.
    public func readBack(limit: Int = 65536) -> CapturedOutput? {
        guard released, let path = spool, limit > 0 else { return nil }
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
