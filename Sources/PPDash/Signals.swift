// Signals the app loop must react to, caught by the system layer's signal catcher and read between frames.
import Glibc
import PPSystem

/// What arrived since the last look.
struct CaughtSignals: OptionSet, Sendable {
    let rawValue: UInt32
    /// SIGHUP: the terminal is gone.
    static let hangup = CaughtSignals(rawValue: 1 << 0)
    /// SIGTERM, SIGQUIT, or SIGINT sent by another process.
    static let terminate = CaughtSignals(rawValue: 1 << 1)
    /// SIGINT typed at the terminal (Ctrl-C in cbreak mode): the user's quit.
    static let keyboardInterrupt = CaughtSignals(rawValue: 1 << 2)
    /// SIGTSTP: Ctrl-Z.
    static let stop = CaughtSignals(rawValue: 1 << 3)
    /// SIGCONT: continued after a stop.
    static let cont = CaughtSignals(rawValue: 1 << 4)
}

/// Catches INT, TERM, QUIT, HUP, TSTP and CONT from `install` (after Terminal.open, so ours replace ncurses' own) until
/// `restore`, which puts the previous actions back.
struct SignalTrap: ~Copyable {
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP, SIGCONT]
    private var catcher: SignalCatcher?

    init() {}

    mutating func install() { catcher = try? SignalCatcher(catching: Self.handled) }

    /// Puts the previous actions back (idempotent); the signals in `ignoring` are ignored from now on instead.
    mutating func restore(ignoring: Set<Int32> = []) {
        catcher?.restore(ignoring: ignoring)
        catcher = nil
    }

    /// Signals caught since the last call.
    func take() -> CaughtSignals {
        var caught: CaughtSignals = []
        while let s = catcher?.next() {
            switch s.number {
            case SIGHUP: caught.insert(.hangup)
            case SIGINT: caught.insert(s.fromTerminal ? .keyboardInterrupt : .terminate)
            case SIGTSTP: caught.insert(.stop)
            case SIGCONT: caught.insert(.cont)
            default: caught.insert(.terminate)
            }
        }
        return caught
    }

    /// Stops the process as Ctrl-Z would (default SIGTSTP action), returning once continued; ours is back afterwards.
    func stopProcess() { SignalCatcher.raiseWithDefaultAction(SIGTSTP) }
}
