import Glibc
import PPSystem
import Synchronization

/// SIGINT/SIGTERM (and, while detached from a terminal, SIGHUP) caught through the system layer's catcher, for the
/// waiting loops to poll.
enum StopSignals {
    private static let catcher = Mutex<SignalCatcher?>(nil)
    private static let first = Atomic<Int32>(0)

    /// Catches `signals` from now on; `caughtSignal` reports the first.
    static func install(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        catcher.withLock { if $0 == nil { $0 = try? SignalCatcher(catching: signals) } }
    }

    /// The first signal caught, if any (it stays reported).
    static var caughtSignal: Int32? {
        if let sig = catcher.withLock({ $0?.next()?.number }) {
            _ = first.compareExchange(expected: 0, desired: sig, ordering: .relaxed)
        }
        let s = first.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }
}

/// Ends the process as SIGPIPE would have: the reader of our output is gone (`run` ignores SIGPIPE until then).
func endBySIGPIPE() { SignalCatcher.raiseWithDefaultAction(SIGPIPE) }
