// `--line-buffer`/`--ungroup` writes go through one printer thread: the thread that hands a chunk over (a remote
// engine's link loop, a local task's pipe reader) never blocks on a stdout nobody reads. The queue is bounded in
// memory; past the bound its pieces go to an unlinked temporary file, in order, never dropped.
import Dispatch
import Foundation
import Glibc
import PPSystem
import Synchronization

/// Pieces of output (bytes for stdout or stderr) written in the order given, by a thread of its own.
final class OutputQueue: Sendable {
    /// Bytes held in memory before pieces go to the spill file.
    let memoryBound: Int

    private struct State {
        var memory: [(fd: Int32, bytes: [UInt8])] = []
        var head = 0
        var memoryBytes = 0
        /// The spill file (-1: none yet), where its unread pieces start and where the next goes.
        var spill: Int32 = -1
        var readAt: Int64 = 0
        var writeAt: Int64 = 0
        /// Pieces in the file not read yet.
        var filePieces = 0
        /// Why the spill file could not be written (pieces then wait in memory past the bound: never dropped).
        var spillFailed = false
        /// Pieces handed over and not yet written (memory or file).
        var queued = 0
        var closed = false
    }
    private let state = Mutex(State())
    /// Rung when a piece is queued (the writer), and when the queue empties (a `drain` waiting).
    private let work = DispatchSemaphore(value: 0)
    private let drained = DispatchSemaphore(value: 0)
    /// A `drain` is waiting for the queue to empty.
    private let drainWaiting = Atomic<Int>(0)
    /// The writer: called on the printer thread with each piece in order.
    private let write: @Sendable (Int32, [UInt8]) -> Bool
    /// A write to fd 1 found its reader gone (EPIPE): later pieces for stdout are dropped (no one reads them).
    let stdoutClosed = Atomic<Bool>(false)

    /// Most bytes the memory part held at once (for tests: bounded).
    let highWater = Atomic<Int>(0)
    /// Bytes that went through the spill file (for tests: the bound was passed and nothing was lost).
    let spilledBytes = Atomic<Int>(0)

    init(memoryBound: Int = 4 << 20, write: @escaping @Sendable (Int32, [UInt8]) -> Bool) {
        self.memoryBound = max(1, memoryBound)
        self.write = write
        let thread = Thread { [self] in run() }
        thread.name = "ppdash-printer"
        thread.start()
    }

    /// Queues `bytes` for `fd`; returns at once (memory or the spill file), never waiting for the writer.
    func put(_ fd: Int32, _ bytes: [UInt8]) {
        if bytes.isEmpty { return }
        state.withLock { s in
            s.queued += 1
            let toFile = !s.spillFailed && (s.readAt < s.writeAt || s.memoryBytes + bytes.count > memoryBound)
            if toFile && Self.append(&s, fd, bytes) {
                spilledBytes.add(bytes.count, ordering: .relaxed)
                return
            }
            s.memory.append((fd, bytes))
            s.memoryBytes += bytes.count
            if s.memoryBytes > highWater.load(ordering: .relaxed) { highWater.store(s.memoryBytes, ordering: .relaxed) }
        }
        work.signal()
    }

    /// Waits until every piece queued so far is written.
    func drain() {
        drainWaiting.add(1, ordering: .acquiringAndReleasing)
        defer { drainWaiting.subtract(1, ordering: .acquiringAndReleasing) }
        while state.withLock({ $0.queued }) > 0 { _ = drained.wait(timeout: .now() + 0.5) }
    }

    /// A record in the spill file: fd (1 byte), length (4 bytes, little-endian), the bytes.
    private static func append(_ s: inout State, _ fd: Int32, _ bytes: [UInt8]) -> Bool {
        if s.spill < 0 {
            guard let f = Self.makeSpill() else {
                s.spillFailed = true
                return false
            }
            s.spill = f
        }
        var record = [UInt8(truncatingIfNeeded: fd)]
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: bytes)
        var off = 0
        while off < record.count {
            let n = record.withUnsafeBytes { pwrite(s.spill, $0.baseAddress! + off, record.count - off, off_t(s.writeAt) + off_t(off)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                // A full $TMPDIR: this piece (and the rest) wait in memory; what is in the file is still read back.
                s.spillFailed = true
                return false
            }
            off += n
        }
        s.writeAt += Int64(record.count)
        s.filePieces += 1
        return true
    }

    /// An unlinked file under $TMPDIR (nothing to clean up at exit).
    private static func makeSpill() -> Int32? {
        var base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/ppdash-lines-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    /// The next piece: memory first (everything there was queued before any piece in the file), then the file.
    private func next() -> (Int32, [UInt8])? {
        state.withLock { s -> (Int32, [UInt8])? in
            if s.head < s.memory.count {
                let p = s.memory[s.head]
                s.memory[s.head] = (0, [])
                s.head += 1
                s.memoryBytes -= p.bytes.count
                if s.head == s.memory.count || s.head > 1024 {
                    s.memory.removeFirst(s.head)
                    s.head = 0
                }
                return p
            }
            guard s.readAt < s.writeAt else { return nil }
            var header = [UInt8](repeating: 0, count: 5)
            var bytes = [UInt8]()
            var ok = Self.read(s.spill, &header, at: s.readAt)
            let count = Int(UInt32(header[1]) | UInt32(header[2]) << 8 | UInt32(header[3]) << 16 | UInt32(header[4]) << 24)
            if ok {
                bytes = [UInt8](repeating: 0, count: count)
                ok = Self.read(s.spill, &bytes, at: s.readAt + 5)
            }
            guard ok else {
                // Our own unlinked file cannot be read back (an I/O error): say so, loudly, once per loss.
                note("ppdash: \(s.filePieces) pieces of --line-buffer output held in a temporary file could not be read back: \(SystemFacts.errorText(errno))")
                _ = outputWriteError.compareExchange(expected: 0, desired: EIO, ordering: .relaxed)
                s.queued -= s.filePieces
                s.filePieces = 0
                _ = ftruncate(s.spill, 0)
                (s.readAt, s.writeAt) = (0, 0)
                return nil
            }
            s.filePieces -= 1
            s.readAt += Int64(5 + count)
            if s.readAt == s.writeAt {
                // Read to its end: the file starts over (and new pieces may go to memory again).
                _ = ftruncate(s.spill, 0)
                (s.readAt, s.writeAt) = (0, 0)
            }
            return (Int32(header[0]), bytes)
        }
    }

    private static func read(_ fd: Int32, _ into: inout [UInt8], at: Int64) -> Bool {
        var done = 0
        let count = into.count
        while done < count {
            let n = into.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(at) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    private func run() {
        while true {
            work.wait()
            while true {
                guard let (fd, bytes) = next() else {
                    if state.withLock({ $0.queued }) == 0 && drainWaiting.load(ordering: .acquiring) > 0 { drained.signal() }
                    break
                }
                if !(fd == 1 && stdoutClosed.load(ordering: .relaxed)) && !write(fd, bytes) && fd == 1 {
                    stdoutClosed.store(true, ordering: .relaxed)
                }
                let left = state.withLock { s -> Int in
                    s.queued -= 1
                    return s.queued
                }
                if left == 0 && drainWaiting.load(ordering: .acquiring) > 0 { drained.signal() }
            }
        }
    }
}
