// Signals the app loop must react to, caught by plain sigaction handlers that only set bits the loop reads.
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Bits set by the signal handler (an atomic: async-signal-safe, no lock).
private let caughtSignals = Atomic<UInt32>(0)

/// What arrived since the last look.
struct CaughtSignals: OptionSet, Sendable {
    let rawValue: UInt32
    /// SIGHUP: the terminal is gone.
    static let hangup = CaughtSignals(rawValue: 1 << 0)
    /// SIGTERM, or SIGINT sent by another process.
    static let terminate = CaughtSignals(rawValue: 1 << 1)
    /// SIGINT typed at the terminal (Ctrl-C in cbreak mode): the user's quit.
    static let keyboardInterrupt = CaughtSignals(rawValue: 1 << 2)
    /// SIGTSTP: Ctrl-Z.
    static let stop = CaughtSignals(rawValue: 1 << 3)
    /// SIGCONT: continued after a stop.
    static let cont = CaughtSignals(rawValue: 1 << 4)
}

/// The handler: records the signal; a SIGINT from the kernel (si_code SI_KERNEL: the tty's Ctrl-C) counts as a key.
private func recordSignal(_ sig: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _: UnsafeMutableRawPointer?) {
    let bit: CaughtSignals
    switch sig {
    case SIGHUP: bit = .hangup
    case SIGTERM: bit = .terminate
    case SIGINT:
        #if os(Linux)
            let fromTTY = info.map { $0.pointee.si_code == 0x80 } ?? false  // SI_KERNEL
        #else
            let fromTTY = info.map { $0.pointee.si_code == 0 && $0.pointee.si_pid == 0 } ?? false
        #endif
        bit = fromTTY ? .keyboardInterrupt : .terminate
    case SIGTSTP: bit = .stop
    case SIGCONT: bit = .cont
    default: return
    }
    caughtSignals.bitwiseOr(bit.rawValue, ordering: .sequentiallyConsistent)
}

/// Installs the handlers for INT, TERM, HUP, TSTP and CONT (after Terminal.open, so they replace ncurses' own) and restores the previous ones.
struct SignalTrap: ~Copyable {
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT]
    private var previous: [Int32: sigaction] = [:]
    private var installed = false

    init() {}

    /// Sets our handler for every handled signal, remembering what was there.
    mutating func install() {
        caughtSignals.store(0, ordering: .sequentiallyConsistent)
        for sig in Self.handled {
            var old = sigaction()
            var sa = Self.ours()
            if sigaction(sig, &sa, &old) == 0 { previous[sig] = old }
        }
        installed = true
    }

    /// Puts the previous handlers back (idempotent); the signals in `ignoring` are ignored from now on instead.
    mutating func restore(ignoring: Set<Int32> = []) {
        guard installed else { return }
        for (sig, old) in previous {
            var o = old
            if ignoring.contains(sig) {
                o = sigaction()
                #if os(Linux)
                    o.__sigaction_handler.sa_handler = SIG_IGN
                #else
                    o.__sigaction_u.__sa_handler = SIG_IGN
                #endif
                sigemptyset(&o.sa_mask)
            }
            sigaction(sig, &o, nil)
        }
        previous = [:]
        installed = false
    }

    /// Signals caught since the last call.
    func take() -> CaughtSignals {
        CaughtSignals(rawValue: caughtSignals.exchange(0, ordering: .sequentiallyConsistent))
    }

    /// Stops the process as Ctrl-Z would (default SIGTSTP action), returning once continued; our handler is back afterwards.
    func stopProcess() {
        var dfl = sigaction()
        #if os(Linux)
            dfl.__sigaction_handler.sa_handler = SIG_DFL
        #else
            dfl.__sigaction_u.__sa_handler = SIG_DFL
        #endif
        sigemptyset(&dfl.sa_mask)
        var mine = sigaction()
        sigaction(SIGTSTP, &dfl, &mine)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTSTP)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        kill(getpid(), SIGTSTP)  // stops here until SIGCONT
        sigaction(SIGTSTP, &mine, nil)
    }

    private static func ours() -> sigaction {
        var sa = sigaction()
        #if os(Linux)
            sa.__sigaction_handler.sa_sigaction = recordSignal
        #else
            sa.__sigaction_u.__sa_sigaction = recordSignal
        #endif
        sigemptyset(&sa.sa_mask)
        sa.sa_flags = SA_SIGINFO | SA_RESTART  // other threads' reads and waits resume; ncurses' poll still wakes
        return sa
    }
}
