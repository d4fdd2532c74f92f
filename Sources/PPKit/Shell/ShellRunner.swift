import Glibc
import PPSystem
import Synchronization

/// Limits for one shell task.
public struct ShellLimits: Sendable, Hashable {
    /// Seconds before the task is stopped; nil = none.
    public var runTimeLimit: Double?
    /// Seconds between SIGTERM and SIGKILL.
    public var grace: Double
    /// Bytes kept per stream (head half + tail half); the rest is counted in `droppedBytes`.
    public var maxOutput: Int
    /// Path prefix of the spool files (`<spool>.out`, `<spool>.err`) that take a stream whole once it passes
    /// `maxOutput` (or `spoolFrom`, when less); nil: head and tail only.
    public var spool: String?
    /// With a spool: a stream longer than this goes whole to its spool file even while memory keeps it all, so the
    /// journal's `completed` line (which keeps `spoolFrom` bytes, head and tail) and a dashboard that lets finished
    /// output leave memory lose nothing: past this many bytes the whole stream is on disk.
    public var spoolFrom: Int = ShellLimits.spoolFromSetting.load(ordering: .relaxed)
    /// The default `spoolFrom`: 8 KiB (what a journal line keeps of a stream).
    public static let defaultSpoolFrom = 8192
    /// The process's `spoolFrom` for new limits: `defaultSpoolFrom`, unless a run that has neither a journal nor a
    /// dashboard sets `Int.max` (a spool file only past `maxOutput`: nothing would read the rest of a short stream).
    public static let spoolFromSetting = Atomic<Int>(ShellLimits.defaultSpoolFrom)

    public init(
        runTimeLimit: Double? = nil, grace: Double = Timings.taskGrace, maxOutput: Int = 65536, spool: String? = nil
    ) {
        self.runTimeLimit = runTimeLimit
        self.grace = grace
        self.maxOutput = maxOutput
        self.spool = spool
    }

    /// Bytes of a stream after which its spool file starts (the file then holds the whole stream).
    var spoolLimit: Int { min(maxOutput, max(0, spoolFrom)) }
}

/// Wakes a running `ShellRunner.run` from another thread to stop its task; once fired it stays fired.
public final class ShellCancel: Sendable {
    /// The eventfd the runner polls (-1 if none could be made: then only `fired` is seen, between polls).
    let event: OwnedDescriptor
    let fired = Atomic<Bool>(false)

    public init() {
        do { event = try OwnedDescriptor.eventFD() } catch { event = OwnedDescriptor(taking: -1) }
    }

    public func fire() {
        guard !fired.exchange(true, ordering: .acquiringAndReleasing), event.raw >= 0 else { return }
        _ = try? withUnsafeBytes(of: UInt64(1)) { try event.fd.writeAll($0) }
    }

    /// True once `fire()` was called.
    public var isFired: Bool { fired.load(ordering: .acquiring) }
}

/// What one shell task did.
public struct ShellOutcome: Sendable, Hashable {
    /// The exit status, when it exited.
    public var exitStatus: Int32?
    /// The signal, when killed by one.
    public var signal: Int32?
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    /// The run-time limit was hit.
    public var timedOut: Bool
    /// `ShellCancel` fired.
    public var cancelled: Bool
    /// Why it could not start, e.g. "cannot run: /bin/sh: Resource temporarily unavailable".
    public var spawnError: String?
    /// Why a stream that passed the bound could not be spooled whole (it is then head and tail only).
    public var spoolError: String?
    /// The process id, also its process group id; 0 if never started.
    public var pid: Int32
    public var started: Timestamp
    public var completed: Timestamp
    /// CPU and peak memory of the task's process (and what it waited for), from wait4; nil if it never ran.
    public var usage: ResourceUsage?

    public init(
        exitStatus: Int32? = nil, signal: Int32? = nil, stdout: CapturedOutput = .empty,
        stderr: CapturedOutput = .empty,
        timedOut: Bool = false, cancelled: Bool = false, spawnError: String? = nil, pid: Int32 = 0,
        started: Timestamp, completed: Timestamp
    ) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.spawnError = spawnError
        self.pid = pid
        self.started = started
        self.completed = completed
    }

    /// Exit 0, no signal, not timed out or cancelled, no spawn error.
    public var succeeded: Bool {
        exitStatus == 0 && signal == nil && !timedOut && !cancelled && spawnError == nil
    }
}

/// Runs shell tasks through the system layer's spawner and child watcher, on the calling thread.
public enum ShellRunner {
    /// Runs `command` to completion on the calling thread (own process group, stdin /dev/null, bounded capture).
    public static func run(
        _ command: String, workingDirectory: String? = nil, environment extra: [String: String] = [:],
        limits: ShellLimits = ShellLimits(), cancel: ShellCancel? = nil, clock: any PPClock = SystemClock(),
        onSpawn: (Int32) -> Void = { _ in }, onOutput: (LiveOutput) -> Void = { _ in }
    ) -> ShellOutcome {
        let started = clock.now()
        if let cancel, cancel.isFired {
            return ShellOutcome(cancelled: true, started: started, completed: started)
        }
        var plan = CommandPlan.plan(command, path: extra["PATH"] ?? SystemFacts.environment("PATH"))
        if workingDirectory != nil, case .argv(let p, _) = plan, p.utf8.first != UInt8(ascii: "/") {
            plan = .shell(command)
        }
        let out: Pipe
        let err: Pipe
        do throws(Errno) { out = try OwnedDescriptor.pipe() } catch { return failed("pipe", error, started, clock) }
        do throws(Errno) { err = try OwnedDescriptor.pipe() } catch { return failed("pipe", error, started, clock) }
        let (outW, errW) = (out.write.raw, err.write.raw)
        func spawn(_ plan: CommandPlan) throws(Errno) -> ChildProcess {
            var spawn: SpawnPlan
            switch plan {
            case .argv(let p, let a): spawn = SpawnPlan(executable: p, arguments: a)
            case .shell(let c): spawn = SpawnPlan(executable: "/bin/sh", arguments: ["sh", "-c", c])
            }
            spawn.descriptors = [
                .copy(outW, to: 1), .copy(errW, to: 2), .open("/dev/null", flags: O_RDONLY, to: 0),
            ]
            spawn.environment = extra
            spawn.workingDirectory = workingDirectory
            return try spawn.spawn()
        }
        var spawned: Result<ChildProcess, Errno> = Result { () throws(Errno) in try spawn(plan) }
        if case .failure(let e) = spawned, case .argv(let p, let args) = plan,
            [.noSuchFileOrDirectory, .execFormatError, .permissionDenied].contains(e),
            workingDirectory.map(SystemFacts.canEnter) ?? true
        {
            // Stale cache or a script without `#!`: let the shell find and run it as it would.
            PathCache.forget(args[0])
            PathCache.forget(p)
            spawned = Result { () throws(Errno) in try spawn(.shell(command)) }
        }
        out.write.close()
        err.write.close()
        let child: ChildProcess
        switch spawned {
        case .success(let c): child = c
        case .failure(let e):
            if let dir = workingDirectory, !SystemFacts.canEnter(dir) {
                return failed("cd " + ByteText.lossy(dir), Errno(rawValue: errno), started, clock)
            }
            if case .argv(let p, _) = plan { return failed(p, e, started, clock) }
            return failed("/bin/sh", e, started, clock)
        }
        onSpawn(child.pid)

        var outcome = ShellOutcome(pid: child.pid, started: started, completed: started)
        let live = LiveOutput(limits: limits)
        onOutput(live)
        let startNs = clock.monotonicNanoseconds()
        let stopped = child.watch(
            pipes: [out.read.raw, err.read.raw], wake: cancel?.event.raw ?? -1,
            deadline: limits.runTimeLimit.flatMap { Timings.nanoseconds($0).map { startNs + $0 } },
            grace: Timings.nanoseconds(limits.grace) ?? 0, canBeStopped: cancel != nil,
            stopRequested: { cancel?.isFired ?? false }, now: { clock.monotonicNanoseconds() }
        ) { i, bytes in
            live.append(stream: i, bytes)
        }
        out.read.close()
        err.read.close()
        outcome.cancelled = stopped == .requested
        outcome.timedOut = stopped == .deadline
        (outcome.stdout, outcome.stderr, outcome.spoolError) = live.finish()
        let status = child.wait()
        outcome.exitStatus = status?.exitCode
        outcome.signal = status?.signal
        outcome.usage = child.usage
        outcome.completed = clock.now()
        return outcome
    }

    static func failed(_ what: String, _ code: Errno, _ started: Timestamp, _ clock: any PPClock) -> ShellOutcome {
        ShellOutcome(
            spawnError: "cannot run: " + what + ": " + SystemFacts.errorText(code.rawValue), started: started,
            completed: clock.now())
    }
}

/// Sees each chunk of shell tasks' output as it arrives: the task, the stream (0 stdout, 1 stderr), the bytes.
public final class OutputTap: Sendable {
    public let body: @Sendable (TaskID, Int, UnsafeRawBufferPointer) -> Void
    public init(_ body: @escaping @Sendable (TaskID, Int, UnsafeRawBufferPointer) -> Void) { self.body = body }
}

/// A task's two captures, readable from other threads while it runs (the detail view tails them). One thread
/// appends (the shell runner's watcher, or the link of a remote engine); any thread reads.
///
/// Readers take only `streams`, held for memory copies and never across I/O: a spool write that stalls (a full or
/// slow disk, a FIFO) stalls the appending thread alone, never `Scheduler.metadata` or a dashboard reading the task.
public final class LiveOutput: Sendable {
    /// The bounded captures in memory (no spool files here): what readers see.
    private let streams: Mutex<(out: OutputCapture, err: OutputCapture)>
    /// The spool files: written, and taken, by the appending thread only (and `finish`); readers never wait on it.
    private let spools: Mutex<(out: SpoolFile?, err: SpoolFile?)>
    /// Called with each chunk as it arrives (stream 0 stdout, 1 stderr), after it is captured; set before the run.
    private let tap = Mutex<(@Sendable (Int, UnsafeRawBufferPointer) -> Void)?>(nil)

    /// `openSpool` creates a spool file (tests put a FIFO there, to stall its writes).
    init(limits: ShellLimits, openSpool: @escaping SpoolFile.Opener = SpoolFile.createExclusive) {
        streams = Mutex((OutputCapture(limit: limits.maxOutput), OutputCapture(limit: limits.maxOutput)))
        spools = Mutex(
            (
                limits.spool.map { SpoolFile(path: $0 + ".out", limit: limits.spoolLimit, open: openSpool) },
                limits.spool.map { SpoolFile(path: $0 + ".err", limit: limits.spoolLimit, open: openSpool) }
            ))
    }

    /// Has `body` see every chunk from now on (`--line-buffer`).
    public func setTap(_ body: @escaping @Sendable (Int, UnsafeRawBufferPointer) -> Void) {
        tap.withLock { $0 = body }
    }

    func append(stream: Int, _ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty { return }
        spools.withLock { sp in
            var file = stream == 0 ? sp.out : sp.err
            if file != nil {
                // The bytes so far, copied under the readers' lock only when the spool starts (at most the bound).
                file!.take(bytes) { streams.withLock { s in stream == 0 ? s.out.orderedBytes() : s.err.orderedBytes() } }
            }
            let (name, error) = (file.flatMap { $0.spooled ? $0.path : nil }, file?.error)
            streams.withLock { s in
                if stream == 0 {
                    s.out.keep(bytes)
                    (s.out.spoolName, s.out.spoolError) = (name, error)
                } else {
                    s.err.keep(bytes)
                    (s.err.spoolName, s.err.spoolError) = (name, error)
                }
            }
            if stream == 0 { sp.out = file } else { sp.err = file }
        }
        if let t = tap.withLock({ $0 }) { t(stream, bytes) }
    }

    /// The output so far (head and tail, as the finished task will have it).
    public func snapshot() -> (stdout: CapturedOutput, stderr: CapturedOutput) {
        streams.withLock { s in (s.out.captured(), s.err.captured()) }
    }

    /// Closes the spool files; the final captures and any spool error.
    func finish() -> (CapturedOutput, CapturedOutput, String?) {
        spools.withLock { sp in
            sp.out?.finish()
            sp.err?.finish()
        }
        return streams.withLock { s in (s.out.captured(), s.err.captured(), s.out.spoolError ?? s.err.spoolError) }
    }
}

/// The file a stream goes to whole once it passes its bound: created (0600, exclusively) when the bound is passed,
/// with everything so far, then every further chunk.
struct SpoolFile {
    typealias Opener = @Sendable (String) throws(Errno) -> Int32
    let path: String
    let limit: Int
    let open: Opener
    /// Bytes of the stream seen so far.
    var total = 0
    /// The open file (-1: none yet, or given up).
    var fd: Int32 = -1
    /// The file holds the whole stream so far.
    var spooled = false
    /// Why the file could not be written (the stream is then head and tail only, and says so).
    var error: String?

    /// Creates the file for writing, exclusively, 0600.
    static let createExclusive: Opener = { path throws(Errno) in try OwnedDescriptor.createExclusive(path).release() }

    init(path: String, limit: Int, open: @escaping Opener = SpoolFile.createExclusive) {
        self.open = open
        self.path = path
        self.limit = max(0, limit)
        // A retry of the task: a spool file its failed attempt left goes now, even if this attempt stays small.
        PrivateFiles.remove(path)
    }

    /// Takes a chunk: starts the file when the stream passes the bound (`soFar`: the bytes before this chunk).
    mutating func take(_ chunk: UnsafeRawBufferPointer, soFar: () -> [UInt8]) {
        defer { total += chunk.count }
        guard error == nil else { return }
        if !spooled && total + chunk.count > limit {
            start()
            if spooled { soFar().withUnsafeBytes { write($0) } }
        }
        if spooled { write(chunk) }
    }

    private mutating func start() {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        do throws(Errno) {
            if !dir.isEmpty { try PrivateFiles.makeDirectory(dir) }
            // A retry of the task writes its stream afresh.
            PrivateFiles.remove(path)
            fd = try open(path)
        } catch {
            self.error = "cannot create \(path): " + SystemFacts.errorText(error.rawValue)
            return
        }
        spooled = true
    }

    private mutating func write(_ chunk: UnsafeRawBufferPointer) {
        guard spooled, fd >= 0 else { return }
        do {
            _ = try FileDescriptor(rawValue: fd).writeAll(chunk)
        } catch {
            let code = (error as? Errno)?.rawValue ?? EIO
            self.error = "cannot write \(path): " + SystemFacts.errorText(code)
            close(fd)
            fd = -1
            spooled = false
            PrivateFiles.remove(path)
        }
    }

    /// Closes the file (the stream is done).
    mutating func finish() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }
}

/// One stream's bounded capture: the first half of `limit` bytes, a ring of the last half, and a count of the rest.
/// With a spool path, the stream is kept in memory while under the bound; when it passes the bound the spool file is
/// created (0600, exclusively), everything so far written to it, then every further chunk: the file holds it all.
/// (`LiveOutput` keeps the file apart, out of its readers' lock, and reports it through `spoolName`.)
struct OutputCapture {
    let headLimit: Int
    let tailLimit: Int
    var head: [UInt8] = []
    var tail: [UInt8] = []
    var tailStart = 0
    var dropped = 0
    /// Where the whole stream goes once it passes the bound, written here (nil: none, or kept elsewhere).
    var spoolFile: SpoolFile?
    /// The spool file that holds the whole stream, when it is written elsewhere (`LiveOutput`).
    var spoolName: String?
    /// Why the spool could not be written, when it is written elsewhere.
    var spoolErrorElsewhere: String?

    init(limit: Int, spoolPath: String? = nil) {
        let l = max(0, limit)
        headLimit = l / 2
        tailLimit = l - l / 2
        spoolFile = spoolPath.map { SpoolFile(path: $0, limit: l) }
    }

    /// Bytes taken in so far.
    var total: Int { head.count + tail.count + dropped }

    /// Why the spool could not be written (the stream is then head+tail only, and says so).
    var spoolError: String? {
        get { spoolFile?.error ?? spoolErrorElsewhere }
        set { spoolErrorElsewhere = newValue }
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        if chunk.isEmpty { return }
        if var file = spoolFile {
            file.take(chunk) { orderedBytes() }
            spoolFile = file
        }
        keep(chunk)
    }

    /// Closes the spool file (the capture is done).
    mutating func finish() {
        spoolFile?.finish()
    }

    /// The head then the tail in stream order.
    func orderedBytes() -> [UInt8] {
        head + (tailStart == 0 ? tail : Array(tail[tailStart...] + tail[..<tailStart]))
    }

    mutating func keep(_ chunk: UnsafeRawBufferPointer) {
        var src = chunk[...]
        if head.count < headLimit {
            let k = min(headLimit - head.count, src.count)
            if head.count + k > head.capacity {
                head.reserveCapacity(min(headLimit, max(2 * head.capacity, head.count + k)))
            }
            head.append(contentsOf: src.prefix(k))
            src = src.dropFirst(k)
        }
        if src.isEmpty { return }
        if src.count >= tailLimit {
            dropped += tail.count + (src.count - tailLimit)
            tail.removeAll(keepingCapacity: true)
            if tail.capacity < tailLimit { tail.reserveCapacity(tailLimit) }
            tail.append(contentsOf: src.suffix(tailLimit))
            tailStart = 0
            return
        }
        if tail.count < tailLimit {
            let k = min(tailLimit - tail.count, src.count)
            if tail.count + k > tail.capacity {
                tail.reserveCapacity(min(tailLimit, max(2 * tail.capacity, tail.count + k)))
            }
            tail.append(contentsOf: src.prefix(k))
            src = src.dropFirst(k)
            if src.isEmpty { return }
        }
        // The ring is full: overwrite the oldest bytes.
        dropped += src.count
        tail.withUnsafeMutableBytes { ring in
            var rest = src
            while !rest.isEmpty {
                let k = min(tailLimit - tailStart, rest.count)
                ring.baseAddress!.advanced(by: tailStart).copyMemory(
                    from: rest.base.baseAddress!.advanced(by: rest.startIndex), byteCount: k)
                rest = rest.dropFirst(k)
                tailStart = (tailStart + k) % tailLimit
            }
        }
    }

    /// What was kept, as bytes; names the spool file when it holds the whole stream.
    func captured() -> CapturedOutput {
        CapturedOutput(
            bytes: orderedBytes(), headCount: dropped == 0 ? nil : head.count, droppedBytes: dropped,
            spool: spoolFile.flatMap { $0.spooled ? $0.path : nil } ?? spoolName)
    }
}
