import Foundation
import Synchronization

/// Writes a line to stderr.
func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Whether stdin and stdout are terminals.
var isInteractive: Bool { isatty(0) == 1 && isatty(1) == 1 }

/// Lines for stderr that must not cross the dashboard: muted while it owns the terminal, then printed or dropped.
final class Notes: Sendable {
    /// Whether lines written while muted are printed once unmuted (else they are dropped).
    private let holdsMuted: Bool
    private let state = Mutex<(muted: Bool, held: [String])>((false, []))

    init(holdsMuted: Bool) { self.holdsMuted = holdsMuted }

    func write(_ line: String) {
        let now = state.withLock { s -> Bool in
            if s.muted && holdsMuted { s.held.append(line) }
            return !s.muted
        }
        if now { note(line) }
    }

    func mute(_ on: Bool) {
        let held = state.withLock { s -> [String] in
            s.muted = on
            defer { if !on { s.held = [] } }
            return on ? [] : s.held
        }
        for line in held { note(line) }
    }
}

/// Engine links' refused connections and protocol errors: dropped while the dashboard is up.
let engineLog = Notes(holdsMuted: false)

/// Journal and socket warnings: held while the dashboard is up, printed after.
let journalNotes = Notes(holdsMuted: true)
