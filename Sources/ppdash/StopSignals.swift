import Glibc
import PPSystem
import Synchronization

/// SIGINT, SIGTERM and SIGQUIT (and, for `run`, SIGHUP) caught through the system layer's catcher, for the waiting
/// loops to poll.
enum StopSignals {
    private static let catcher = Mutex<SignalCatcher?>(nil)
    private static let first = Atomic<Int32>(0)

    /// What a headless `run` catches: SIGHUP lets the batch run on; SIGINT, SIGTERM and SIGQUIT stop it.
    static let run: [Int32] = [SIGINT, SIGTERM, SIGQUIT, SIGHUP]

    /// Catches `signals` from now on (the first call decides which); `caughtSignal` reports the first, `next` each.
    static func install(_ signals: [Int32] = [SIGINT, SIGTERM, SIGQUIT]) {
        catcher.withLock { if $0 == nil { $0 = try? SignalCatcher(catching: signals) } }
    }

    /// The first signal caught, if any (it stays reported).
    static var caughtSignal: Int32? {
        if let sig = next() { _ = first.compareExchange(expected: 0, desired: sig, ordering: .relaxed) }
        let s = first.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// The next signal caught and not yet taken, oldest first.
    static func next() -> Int32? {
        guard let sig = catcher.withLock({ $0?.next()?.number }) else { return nil }
        _ = first.compareExchange(expected: 0, desired: sig, ordering: .relaxed)
        return sig
    }

    /// The signal's name, for messages and the journal's end line.
    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGQUIT: "SIGQUIT"
        case SIGHUP: "SIGHUP"
        default: "signal \(sig)"
        }
    }

    /// The journal's word for a stop by `sig`.
    static func stopReason(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: "interrupted (SIGINT)"
        case SIGTERM: "terminated (SIGTERM)"
        default: "stopped (\(name(sig)))"
        }
    }
}

/// Ends the process as SIGPIPE would have: the reader of our output is gone (`run` ignores SIGPIPE until then).
func endBySIGPIPE() { SignalCatcher.raiseWithDefaultAction(SIGPIPE) }
