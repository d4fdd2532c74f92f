// The one signal facility: a self-pipe. The handler (C, in CPPSys) only writes the signal's number to the pipe;
// everything else happens in the program's own time, in arrival order. Only a program's top level catches
// signals (they are process-wide): libraries take a catcher as a parameter.
import CPPSys
import Glibc
import Synchronization

/// A caught signal.
public struct CaughtSignal: Sendable, Hashable {
    public var number: Int32
    /// A SIGINT the terminal sent (Ctrl-C typed in a raw-mode screen) rather than another process (kill -INT).
    public var fromTerminal: Bool
}

/// Catches signals from its creation until `restore` (or its end): they no longer do their default action, they
/// queue up here. A poll loop may watch `descriptor`; `next()` takes them one by one.
public final class SignalCatcher: Sendable {
    public let signals: [Int32]
    private let ends: Pipe
    /// The actions before ours, until restored. (`sigaction` holds a function pointer union, which Swift does not
    /// call Sendable: it is only read and written under this lock.)
    private let previous: Mutex<[Int32: UnsafeSendable<sigaction>]>
    /// The pipe's read end: readable while a caught signal waits.
    public var descriptor: Int32 { ends.read.raw }

    /// Starts catching `signals`; throws if the pipe cannot be made or a signal cannot be caught (nothing is
    /// caught then).
    public init(catching signals: [Int32]) throws(Errno) {
        let ends = try OwnedDescriptor.pipe(nonBlocking: true)
        var previous: [Int32: UnsafeSendable<sigaction>] = [:]
        for sig in signals {
            var old = sigaction()
            guard ppsys_signal_catch(sig, ends.write.raw, &old) == 0 else {
                let e = Errno(rawValue: errno)
                for (s, o) in previous { withUnsafePointer(to: o.value) { _ = ppsys_signal_restore(s, $0, 0) } }
                throw e
            }
            previous[sig] = UnsafeSendable(value: old)
        }
        self.signals = signals
        self.ends = ends
        self.previous = Mutex(previous)
    }

    deinit { restore() }

    /// The next caught signal, oldest first; nil if none waits. Never blocks.
    public func next() -> CaughtSignal? {
        var byte: UInt8 = 0
        guard (try? retryingInterrupts({ read(descriptor, &byte, 1) })) == 1 else { return nil }
        return CaughtSignal(number: Int32(byte & 0x7f), fromTerminal: byte & 0x80 != 0)
    }

    /// Waits up to `milliseconds` (-1: no limit) for a caught signal.
    public func wait(milliseconds: Int32) -> CaughtSignal? {
        if let s = next() { return s }
        _ = waitReadable(descriptor, milliseconds: milliseconds)
        return next()
    }

    /// Puts the previous actions back (idempotent); the signals in `ignoring` are ignored from now on instead.
    public func restore(ignoring: Set<Int32> = []) {
        previous.withLock { list in
            for (s, o) in list { withUnsafePointer(to: o.value) { _ = ppsys_signal_restore(s, $0, ignoring.contains(s) ? 1 : 0) } }
            list = [:]
        }
    }

    /// Does what `sig` would do by default (SIGTSTP: stop until continued; SIGPIPE: end the process), then puts
    /// back whatever action `sig` had.
    public static func raiseWithDefaultAction(_ sig: Int32) { ppsys_signal_raise_default(sig) }
}

/// Blocks every signal in the calling thread (a dedicated thread that must never run a handler).
public func blockAllSignalsInThisThread() { ppsys_block_all_signals_in_thread() }

/// A value Swift cannot prove Sendable, kept only where a lock guards it (said at each use).
struct UnsafeSendable<Value>: @unchecked Sendable {
    var value: Value
}
