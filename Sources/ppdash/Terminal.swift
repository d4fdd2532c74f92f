import Foundation
import PPSystem
import Synchronization

/// Writes a line to stderr (erasing the progress line first, if one is drawn).
func note(_ s: String) { _ = statusLine.write(2, ByteText.lossy(s) + "\n") }  // a byte that is not UTF-8: U+FFFD

/// The one progress line drawn in place on the terminal's stderr, and every write that may land on that terminal,
/// under one lock: a task's output or a note erases the line first (it is redrawn on the next tick), so no output
/// line ever starts in the middle of the bar.
final class StatusLine: Sendable {
    private struct State {
        /// A line is drawn (the cursor is at its end).
        var shown = false
        /// The last write to the terminal did not end a line: drawing now would erase it.
        var midLine = false
        /// A write is under way (outside this lock): the line is not drawn over it.
        var writing = false
    }
    private let state = Mutex(State())
    /// Serializes whole writes (a task's output streamed from its spool file may take long, or wait on a slow
    /// reader); `state` is held only to erase the line and note the last byte, never across the write itself, so
    /// drawing the progress line never waits on stdout's reader.
    private let writes = Mutex<Void>(())
    /// Whether stdout is a terminal (taken to be the one stderr is on).
    private let stdoutIsTerminal = isatty(1) == 1
    private let stderrIsTerminal = isatty(2) == 1

    /// Draws `line` in place on stderr (`\r`, the line, `ESC[K`); skipped while a task's partial line is on screen.
    func draw(_ line: String) {
        state.withLock { s in
            guard !s.midLine && !s.writing else { return }
            _ = writeAll(2, "\r" + line + "\u{1B}[K")
            s.shown = true
        }
    }

    /// Erases a drawn line, leaving the cursor at the start of the empty line.
    func erase() {
        state.withLock { s in Self.erase(&s) }
    }

    /// Writes `text` to `fd` whole (see `writeAll`), erasing a drawn line first when `fd` is on the terminal.
    func write(_ fd: Int32, _ text: String) -> Bool {
        write(fd) { (writeAll(fd, text), text.utf8.last) }
    }

    /// As `write(_:_:)` for output `body` writes itself to `fd` under the lock (bytes, maybe streamed from a spool
    /// file); `body` says whether all was written and the last byte it wrote.
    func write(_ fd: Int32, with body: () -> (ok: Bool, last: UInt8?)) -> Bool {
        writes.withLock { _ in
            let terminal = fd == 2 ? stderrIsTerminal : fd == 1 && stdoutIsTerminal
            state.withLock { s in
                if terminal { Self.erase(&s) }
                s.writing = true
            }
            let (ok, last) = body()
            state.withLock { s in
                s.writing = false
                if terminal, let last { s.midLine = last != UInt8(ascii: "\n") }
            }
            return ok
        }
    }

    private static func erase(_ s: inout State) {
        guard s.shown else { return }
        _ = writeAll(2, "\r\u{1B}[K")
        s.shown = false
    }
}

/// The process's progress line (drawn only by `ProgressLine` on a terminal that can move the cursor).
let statusLine = StatusLine()

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
