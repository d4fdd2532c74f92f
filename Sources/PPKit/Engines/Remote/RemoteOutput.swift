import NIOCore
import Synchronization

/// Worker side of live output: a running task's output goes to the scheduler in `output` frames as it comes, in
/// order, coalesced (a piece waits at most `delay` for more, up to a frame's worth), and flow-controlled: while more
/// than `backlogLimit` bytes wait for the link, the task's reader waits, so the task itself waits on its full pipe. A
/// flood grows memory on neither side: the worker holds at most the backlog, the scheduler's side keeps the bounded
/// head and tail in memory and spools the rest (`RemoteEngine`).
final class OutputForwarder: Sendable {
    /// Bytes gathered before they go at once (one frame's worth).
    static let coalesce = WireProtocol.maxOutputChunk
    /// Bytes that may wait in the outbox before the producer waits.
    static let backlogLimit = 256 << 10
    /// How long a small piece waits for more before it is sent.
    static let delay = TimeAmount.milliseconds(10)

    private struct State {
        var outbox: WireOutbox?
        /// The piece being gathered: one task's one stream.
        var task: Int64 = 0
        var stream: UInt8 = 0
        var bytes: [UInt8] = []
        var timerArmed = false
    }
    private let state = Mutex(State())

    /// Starts forwarding on `outbox` (the worker is welcome).
    func attach(_ outbox: WireOutbox) { state.withLock { $0.outbox = outbox } }

    /// Takes a chunk of `task`'s `stream` (called on the engine's thread, from the task's reader). Sends are made
    /// under the lock, so frames leave in the order the bytes came.
    func add(task: Int64, stream: Int, _ chunk: UnsafeRawBufferPointer) {
        if chunk.isEmpty { return }
        let s8 = UInt8(truncatingIfNeeded: stream)
        let (outbox, arm) = state.withLock { s -> (WireOutbox?, Bool) in
            guard let outbox = s.outbox else { return (nil, false) }
            if !s.bytes.isEmpty && (s.task != task || s.stream != s8) { Self.send(&s, outbox) }
            s.task = task
            s.stream = s8
            var rest = chunk[...]
            while !rest.isEmpty {
                let k = min(Self.coalesce - s.bytes.count, rest.count)
                s.bytes.append(contentsOf: rest.prefix(k))
                rest = rest.dropFirst(k)
                if s.bytes.count >= Self.coalesce { Self.send(&s, outbox) }
            }
            let arm = !s.bytes.isEmpty && !s.timerArmed
            if arm { s.timerArmed = true }
            return (outbox, arm)
        }
        guard let outbox else { return }
        if arm { outbox.channel.eventLoop.scheduleTask(in: Self.delay) { [self] in flush() } }
        outbox.waitForRoom(below: Self.backlogLimit)
    }

    /// Sends what is gathered now (a task ends: its output goes before its result).
    func flush() {
        state.withLock { s in
            s.timerArmed = false
            if let outbox = s.outbox, !s.bytes.isEmpty { Self.send(&s, outbox) }
        }
    }

    private static func send(_ s: inout State, _ outbox: WireOutbox) {
        outbox.send(.output(task: s.task, stream: s.stream, bytes: s.bytes))
        s.bytes.removeAll(keepingCapacity: true)
    }
}

/// How the scheduler's side keeps one remote shell task's output: as a local task's (head and tail in memory, the
/// whole stream in the spool past the bound, the `--line-buffer` tap).
struct RemoteOutputPlan: Sendable {
    var limits: ShellLimits
    var tap: OutputTap?
    var task: TaskID

    init(_ a: Assignment) {
        task = a.task
        limits = ShellLimits(maxOutput: a.maxOutput, spool: a.spoolDirectory.map { $0 + "/" + a.task.description })
        tap = a.outputTap
    }

    /// A fresh capture (a retry's spool files are written afresh).
    func makeLive() -> LiveOutput {
        let live = LiveOutput(limits: limits)
        if let tap {
            let task = self.task
            live.setTap { tap.body(task, $0, $1) }
        }
        return live
    }
}
