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

    public init(runTimeLimit: Double? = nil, grace: Double = Timings.taskGrace, maxOutput: Int = 65536) {
        self.runTimeLimit = runTimeLimit
        self.grace = grace
        self.maxOutput = maxOutput
    }
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
    /// The process id, also its process group id; 0 if never started.
    public var pid: Int32
    public var started: Timestamp
    public var completed: Timestamp

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
        onSpawn: (Int32) -> Void = { _ in }
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
        var captures = (OutputCapture(limit: limits.maxOutput), OutputCapture(limit: limits.maxOutput))
        let startNs = clock.monotonicNanoseconds()
        let stopped = child.watch(
            pipes: [out.read.raw, err.read.raw], wake: cancel?.event.raw ?? -1,
            deadline: limits.runTimeLimit.flatMap { Timings.nanoseconds($0).map { startNs + $0 } },
            grace: Timings.nanoseconds(limits.grace) ?? 0, canBeStopped: cancel != nil,
            stopRequested: { cancel?.isFired ?? false }, now: { clock.monotonicNanoseconds() }
        ) { i, bytes in
            if i == 0 { captures.0.append(bytes) } else { captures.1.append(bytes) }
        }
        out.read.close()
        err.read.close()
        outcome.cancelled = stopped == .requested
        outcome.timedOut = stopped == .deadline
        outcome.stdout = captures.0.captured()
        outcome.stderr = captures.1.captured()
        let status = child.wait()
        outcome.exitStatus = status?.exitCode
        outcome.signal = status?.signal
        outcome.completed = clock.now()
        return outcome
    }

    static func failed(_ what: String, _ code: Errno, _ started: Timestamp, _ clock: any PPClock) -> ShellOutcome {
        ShellOutcome(
            spawnError: "cannot run: " + what + ": " + SystemFacts.errorText(code.rawValue), started: started,
            completed: clock.now())
    }
}

/// One stream's bounded capture: the first half of `limit` bytes, a ring of the last half, and a count of the rest.
struct OutputCapture {
    let headLimit: Int
    let tailLimit: Int
    var head: [UInt8] = []
    var tail: [UInt8] = []
    var tailStart = 0
    var dropped = 0

    init(limit: Int) {
        let l = max(0, limit)
        headLimit = l / 2
        tailLimit = l - l / 2
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
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

    func captured() -> CapturedOutput {
        if head.isEmpty && tail.isEmpty { return CapturedOutput(text: "", droppedBytes: dropped) }
        let ordered = tailStart == 0 ? tail : Array(tail[tailStart...] + tail[..<tailStart])
        if dropped == 0 {
            // Nothing cut: decode as one piece so a character spanning head and tail stays whole.
            return CapturedOutput(text: String(decoding: head + ordered, as: UTF8.self), droppedBytes: 0)
        }
        return CapturedOutput(
            text: String(decoding: head, as: UTF8.self) + String(decoding: ordered, as: UTF8.self),
            droppedBytes: dropped)
    }
}
