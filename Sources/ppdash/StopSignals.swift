import Foundation
import Synchronization

// Every signal call of the command line, in one place (the system layer's signal facility replaces it).

/// SIGINT/SIGTERM (and, while detached from a terminal, SIGHUP) caught as a flag the waiting loops poll.
enum StopSignals {
    private static let caught = Atomic<Int32>(0)

    /// Catches `signals` from now on; `caughtSignal` reports the first.
    static func install(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        for sig in signals {
            var sa = sigaction()
            sa.__sigaction_handler.sa_handler = { s in StopSignals.record(s) }
            sigemptyset(&sa.sa_mask)
            sa.sa_flags = SA_RESTART
            sigaction(sig, &sa, nil)
        }
    }

    private static func record(_ sig: Int32) {
        _ = caught.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent)
    }

    /// The first signal caught, if any.
    static var caughtSignal: Int32? {
        let s = caught.load(ordering: .sequentiallyConsistent)
        return s == 0 ? nil : s
    }
}

/// Ends the process as SIGPIPE would have: the reader of our output is gone (NIO ignores SIGPIPE process-wide).
func endBySIGPIPE() {
    signal(SIGPIPE, SIG_DFL)
    raise(SIGPIPE)
}
