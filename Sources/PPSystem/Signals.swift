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
/// queue up here. A poll loop may watch `descriptor`; `next()` takes them one by one. One catcher per signal at a
/// time.
public final class SignalCatcher: Sendable {
    public let signals: [Int32]
    private let ends: Pipe
    private let restored = Atomic<Bool>(false)
    /// The pipe's read end: readable while a caught signal waits.
    public var descriptor: Int32 { ends.read.raw }

    /// Starts catching `signals`; throws if the pipe cannot be made or a signal cannot be caught (then none is).
    public init(catching signals: [Int32]) throws(Errno) {
        let ends = try OwnedDescriptor.pipe(nonBlocking: true)
        for (i, sig) in signals.enumerated() where ppsys_signal_catch(sig, ends.write.raw) != 0 {
            let e = Errno(rawValue: errno)
            for s in signals[..<i] { ppsys_signal_restore(s, 0) }
            throw e
        }
        self.signals = signals
        self.ends = ends
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

    /// Puts the previous actions back (once); the signals in `ignoring` are ignored from now on instead.
    public func restore(ignoring: Set<Int32> = []) {
        if restored.exchange(true, ordering: .acquiringAndReleasing) { return }
        for s in signals { ppsys_signal_restore(s, ignoring.contains(s) ? 1 : 0) }
    }

    /// Ignores `sig` process-wide from now on: a command's own choice, never a library's (SIGPIPE, so that a closed
    /// output is an EPIPE the command sees and acts on, not a silent death that leaves its children running).
    public static func ignore(_ sig: Int32) { ppsys_signal_restore(sig, 1) }

    /// Does what `sig` would do by default (SIGTSTP: stop until continued; SIGPIPE: end the process), then puts
    /// back whatever action `sig` had.
    public static func raiseWithDefaultAction(_ sig: Int32) { ppsys_signal_raise_default(sig) }
}

/// Blocks every signal in the calling thread (a dedicated thread that must never run a handler).
public func blockAllSignalsInThisThread() {
    var all = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_BLOCK, &all, nil)
}
